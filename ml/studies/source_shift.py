"""Which statistic the source-shift monitor uses: ``python -m ml.studies.source_shift``.

Every candidate is a per-answer score in [0, 1], averaged over a site's last 16 in-scope answers, with its
thresholds fitted exactly as the shipped monitor's are (:func:`ml.gate.monitor.familiar_windows`,
:class:`~ml.gate.monitor.MonitorTargets`) on the validation ``select`` half. Each percentile is taken among
the reference answers of the same answered class (leave one out for the reference's own answers):

- ``typicality``: the share at least as far in feature distance;
- ``confidence``: the share at most as sure;
- ``typicality+confidence``: their mean (the shipped familiarity);
- ``typicality+confidence+scope``: with the scope classifier's chest X-ray probability (share at most);
- ``stouffer``: typicality and confidence combined as normal scores, which weighs very low percentiles more;
- typicality and confidence with thresholds from the random windows alone (no manifest-order windows).

The row ``shipped`` is the weights file's own monitor (reference and thresholds fitted with torch), as
served. Streams: the ``assess`` half (the familiar stand-in, which chose none of these numbers) in the
database's manifest order and in 20 random orders, pooled and by class; each test-set source and all mixed in
20 random orders. Every answer goes through the served engine (:class:`ml.site.served.ServedModel`).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from ml.data import Sample, discover
from ml.decoding import SERVED_LIMITS
from ml.engine.answers import assess_batch, calibrated
from ml.gate.data import split_sides
from ml.gate.monitor import (
    MonitorTargets,
    ReferenceAnswers,
    familiar_windows,
    manifest_order,
    thresholds,
)
from ml.model.monitor import MonitorConfig, SourceWindow
from ml.site.served import ServedModel
from ml.studies.site_streams import FLAGGED_FROM, body_of

logger = logging.getLogger(__name__)
ORDERS = 20
RANDOM_ONLY = "typicality+confidence, random windows only"


@dataclass(frozen=True)
class Answers:
    predicted: np.ndarray
    confidence: np.ndarray
    distance: np.ndarray
    chest: np.ndarray
    in_scope: np.ndarray
    flagged: np.ndarray
    """Out of scope or uncertain, image by image (before any site alarm)."""
    familiarity: np.ndarray
    """The served familiarity (the weights' own monitor)."""
    labels: np.ndarray
    sources: np.ndarray

    def take(self, index: np.ndarray) -> Answers:
        return Answers(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


def served_answers(model: ServedModel, samples: list[Sample], batch: int = 32) -> Answers:
    """The served answers of ``samples``, with the gate's raw numbers the candidates need."""
    assert model.gate is not None
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        prepared = [model.prepare(body_of(s.path)[0]) for s in chunk]
        scope_inputs = np.stack([p.scope_inputs for p in prepared])
        result = model.engine.predict(np.stack([p.inputs for p in prepared]), with_cam=False, with_taps=True)
        probabilities = calibrated(result.logits, model.metadata.temperature)
        signals = model.gate.signals(scope_inputs, result.taps)
        verdicts = assess_batch(model.gate, prepared, probabilities, result.taps)
        for i, (sample, a) in enumerate(zip(chunk, verdicts, strict=True)):
            flagged = not a.in_scope or a.uncertain
            numbers = (float(signals.distance[i]), float(signals.chest_xray[i, 0]), a.in_scope, flagged)
            answer = (int(probabilities[i].argmax()), float(probabilities[i].max()))
            rows.append((*answer, *numbers, a.scores["familiarity"], sample.label, sample.source))
    return Answers(*(np.array(column) for column in zip(*rows, strict=True)))


def percentiles(
    ref: Answers, values: Callable[[Answers], np.ndarray], upper: bool, of: Answers
) -> np.ndarray:
    """Each answer of ``of``'s share among ``ref``'s in-scope answers of its class at least as high
    (``upper``) or at most as high; ``of`` is ``ref`` itself for the leave-one-out figures."""
    out = np.zeros(len(of.predicted))
    own = of is ref
    for k in np.unique(of.predicted):
        pool = np.sort(values(ref)[ref.in_scope & (ref.predicted == k)])
        mask = of.predicted == k
        x = values(of)[mask]
        count = len(pool) - np.searchsorted(pool, x, "left") if upper else np.searchsorted(pool, x, "right")
        out[mask] = (count - own) / (len(pool) - own)
    return np.clip(out, 0.0, 1.0)


def candidates(ref: Answers, of: Answers) -> dict[str, np.ndarray]:
    normal = NormalDist()
    typical = percentiles(ref, lambda a: a.distance, True, of)
    sure = percentiles(ref, lambda a: a.confidence, False, of)
    chest = percentiles(ref, lambda a: a.chest, False, of)
    clipped = np.clip(np.stack([typical, sure]), 1e-3, 1 - 1e-3)
    z = np.vectorize(normal.inv_cdf)(clipped).sum(axis=0) / np.sqrt(2)
    return {
        "typicality": typical,
        "confidence": sure,
        "typicality+confidence": (typical + sure) / 2,
        "typicality+confidence+scope": (typical + sure + chest) / 3,
        "stouffer": np.vectorize(normal.cdf)(z),
    }


def fitted_config(
    ref: Answers, scores: np.ndarray, targets: MonitorTargets, random_only: bool = False
) -> MonitorConfig:
    """Thresholds for ``scores`` (the reference's own, leave one out) as the shipped fit chooses them, or
    from the random windows alone."""
    reference = ReferenceAnswers(ref.predicted, ref.confidence, ref.distance, ref.in_scope, ref.labels)
    manifest, random = familiar_windows(scores, reference, targets)
    return MonitorConfig(targets.window, *thresholds(manifest, random, targets, random_only))


def run_stream(
    config: MonitorConfig, scores: np.ndarray, answers: Answers, order: np.ndarray
) -> dict[str, Any]:
    window = SourceWindow(config)
    alarms = np.array([window.observe(scores[i] if answers.in_scope[i] else None).alarm for i in order])
    flagged = alarms | answers.flagged[order]
    first = int(np.argmax(alarms)) + 1 if alarms.any() else None
    return {"alarm": alarms.mean(), "flagged_later": flagged[FLAGGED_FROM - 1 :].mean(), "first": first}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    later = np.array([r["flagged_later"] for r in runs])
    firsts = [r["first"] for r in runs if r["first"] is not None]
    return {
        "alarm": round(float(np.mean([r["alarm"] for r in runs])), 4),
        "flagged_from_17th": round(float(later.mean()), 4),
        "orders_at_least_95": round(float((later >= 0.95).mean()), 4),
        "median_first_alarm": float(np.median(firsts)) if firsts else None,
        "orders_without_alarm": len(runs) - len(firsts),
    }


def streams(
    familiar: Answers, outside: Answers, rng: np.random.Generator
) -> dict[str, tuple[Answers, list[np.ndarray]]]:
    """Name -> (answers, orders): manifest order is the answers' own."""
    out: dict[str, tuple[Answers, list[np.ndarray]]] = {}
    for name, part in [
        ("assess", familiar),
        *(
            (f"assess {c}", familiar.take(familiar.labels == k))
            for k, c in enumerate(("COVID", "Normal", "Viral Pneumonia"))
        ),
    ]:
        out[f"{name}, manifest order"] = (part, [np.arange(len(part.labels))])
        out[f"{name}, random"] = (part, [rng.permutation(len(part.labels)) for _ in range(ORDERS)])
    for source in sorted(set(outside.sources)):
        part = outside.take(outside.sources == source)
        out[f"external-dev {source}"] = (part, [rng.permutation(len(part.labels)) for _ in range(ORDERS)])
    out["external-dev mixed"] = (outside, [rng.permutation(len(outside.labels)) for _ in range(ORDERS)])
    return out  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.studies.source_shift", description=__doc__)
    parser.add_argument("--weights", type=Path, default=Path("weights/cxr-paper-cnn.safetensors"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data/covid-radiography"))
    parser.add_argument("--split", type=Path, default=Path("weights/validation/split.csv"))
    parser.add_argument("--external", type=Path, default=Path("../shared/data/external-dev"))
    parser.add_argument("--out", type=Path, default=Path("weights/monitor/candidates.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model = ServedModel.load(args.weights, "auto", SERVED_LIMITS)
    if model.monitor is None:
        raise SystemExit(f"{args.weights} carries no source-shift monitor")
    _, (select, assess) = split_sides(args.data, args.split)
    logger.info("served answers of %d + %d validation and the test set's films", len(select), len(assess))
    ref = served_answers(model, manifest_order(select))
    familiar = served_answers(model, manifest_order(assess))
    outside = served_answers(model, discover(args.external).samples)
    targets = MonitorTargets()
    own = candidates(ref, ref)
    configs = {n: fitted_config(ref, s, targets) for n, s in own.items()}
    configs[RANDOM_ONLY] = fitted_config(ref, own["typicality+confidence"], targets, random_only=True)
    configs["shipped"] = model.monitor
    results: dict[str, Any] = {"engine": model.engine_name.value, "thresholds": {}, "streams": {}}
    rng = np.random.default_rng(0)
    for stream, (answers, orders) in streams(familiar, outside, rng).items():
        scores = candidates(ref, answers)
        scores.update({RANDOM_ONLY: scores["typicality+confidence"], "shipped": answers.familiarity})
        results["streams"][stream] = {
            name: summarise([run_stream(configs[name], scores[name], answers, o) for o in orders])
            for name in configs
        }
        print(
            stream, {n: (r["alarm"], r["flagged_from_17th"]) for n, r in results["streams"][stream].items()}
        )
    results["thresholds"] = {
        n: [round(c.alarm_below, 4), round(c.clear_above, 4)] for n, c in configs.items()
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
