"""The report: model limit per row, the issue's two CPU targets, a Markdown table, JSON and a PNG plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.e2e import Row
from bench.model_limit import REFERENCE
from bench.stats import ratio

P50_TARGET = 1.25
THROUGHPUT_TARGET = 0.8
AT_CONCURRENCY = 4
"""Where issue 13's targets are read: Grad-CAM on, this many clients."""
LIMIT_TARGET_AT_CONCURRENCY = 1.0
RUNNER_TARGET_AT_CONCURRENCY = 0.85
"""At concurrency 4 with Grad-CAM, the share of the service's own model side's limit to serve."""
PEER_TARGET = 4.0


def limit_for(
    limit_rows: Sequence[dict[str, Any]], gradcam: bool, max_batch: int, engine: str = REFERENCE
) -> float:
    """The best images/s of ``engine`` with this Grad-CAM setting at a batch the service could form."""
    fits = [
        r["images_per_s"]
        for r in limit_rows
        if r.get("engine", REFERENCE) == engine and r["gradcam"] == gradcam and r["batch"] <= max_batch
    ]
    return max(fits, default=math.nan)


def attach_limits(rows: Sequence[Row], limit_rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        row.limit_images_per_s = limit_for(limit_rows, row.gradcam, row.max_batch)
        row.ratio_to_limit = ratio(row.throughput, row.limit_images_per_s)


def runner_limit_for(runner_rows: Sequence[dict[str, Any]], max_batch: int) -> float:
    """The runner's best images/s (Grad-CAM on) at a batch the service could form."""
    return max((r["images_per_s"] for r in runner_rows if r["batch"] <= max_batch), default=math.nan)


def attach_runner_limit(rows: Sequence[Row], runner: dict[str, Any] | None) -> None:
    """Grad-CAM rows against the runner's limit: the mean of its best before and its best after when the
    service could form the best batches, else the best mean of the batches it could."""
    if not runner:
        return
    largest = max(r["batch"] for r in runner["rows"])
    for row in rows:
        if not row.gradcam:
            continue
        if row.max_batch >= largest and "images_per_s" in runner:
            row.runner_limit_images_per_s = runner["images_per_s"]
        else:
            row.runner_limit_images_per_s = runner_limit_for(runner["rows"], row.max_batch)
        row.ratio_to_runner = ratio(row.throughput, row.runner_limit_images_per_s)


def targets(rows: Sequence[Row], limit_rows: Sequence[dict[str, Any]], scenario: str) -> dict[str, Any]:
    """The issue's CPU targets, for ``scenario`` (the production configuration) with Grad-CAM on."""
    cam = [r for r in rows if r.scenario == scenario and r.gradcam and r.ok]
    out: dict[str, Any] = {"scenario": scenario}
    if cam:
        best = max(cam, key=lambda r: r.throughput)
        out["throughput"] = {
            "best_concurrency": best.concurrency,
            "images_per_s": best.throughput,
            "model_limit": best.limit_images_per_s,
            "ratio": best.ratio_to_limit,
            "target": THROUGHPUT_TARGET,
            "met": best.ratio_to_limit >= THROUGHPUT_TARGET,
        }
    single = [r for r in cam if r.concurrency == 1]
    batch1 = [
        r for r in limit_rows if r["gradcam"] and r["batch"] == 1 and r.get("engine", REFERENCE) == REFERENCE
    ]
    if single and batch1:
        model_ms = batch1[0]["batch_latency_ms_p50"]
        p50 = single[0].latency.p50_ms
        out["p50_at_concurrency_1"] = {
            "p50_ms": p50,
            "model_batch1_ms": model_ms,
            "ratio": ratio(p50, model_ms),
            "target": P50_TARGET,
            "met": p50 <= P50_TARGET * model_ms,
        }
    return out


def concurrency_targets(
    rows: Sequence[Row], scenario: str, peer: str, concurrency: int = AT_CONCURRENCY
) -> dict[str, Any]:
    """``scenario`` with Grad-CAM at ``concurrency`` against the eager model limit and against ``peer``."""

    def pick(name: str) -> Row | None:
        found = [r for r in rows if r.scenario == name and r.gradcam and r.concurrency == concurrency]
        return found[0] if found else None

    ours, theirs = pick(scenario), pick(peer)
    out: dict[str, Any] = {"concurrency": concurrency}
    if ours is not None:
        out["vs_model_limit"] = {
            "images_per_s": ours.throughput,
            "model_limit": ours.limit_images_per_s,
            "ratio": ours.ratio_to_limit,
            "target": LIMIT_TARGET_AT_CONCURRENCY,
            "met": ours.ratio_to_limit >= LIMIT_TARGET_AT_CONCURRENCY,
        }
        if not math.isnan(ours.ratio_to_runner):
            out["vs_runner_limit"] = {
                "images_per_s": ours.throughput,
                "runner_limit": ours.runner_limit_images_per_s,
                "ratio": ours.ratio_to_runner,
                "target": RUNNER_TARGET_AT_CONCURRENCY,
                "met": ours.ratio_to_runner >= RUNNER_TARGET_AT_CONCURRENCY,
                "mean_batch": ours.model.mean_batch,
                "cpu_ms_per_request": {"model": ours.cpu.model_ms, "request_path": ours.cpu.request_path_ms},
            }
    if ours is not None and theirs is not None:
        times = ratio(ours.throughput, theirs.throughput)
        out["vs_peer"] = {
            "images_per_s": ours.throughput,
            "peer_images_per_s": theirs.throughput,
            "ratio": times,
            "target": PEER_TARGET,
            "met": times >= PEER_TARGET,
        }
    return out


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def table(rows: Sequence[Row]) -> str:
    header = (
        "| scenario | max batch | Grad-CAM | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| CPU % | CPU ms/req: model | request path | peak RSS MiB | mean batch | model busy "
        "| eager limit img/s | e2e/eager | runner limit img/s | e2e/runner | foreign CPU % |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {r.max_batch} | {'on' if r.gradcam else 'off'} | {r.concurrency} "
            f"| {_fmt(r.throughput)} | {_fmt(r.latency.p50_ms)} | {_fmt(r.latency.p95_ms)} "
            f"| {_fmt(r.latency.p99_ms)} | {sum(r.errors.values())} | {_fmt(r.cpu_percent, 0)} "
            f"| {_fmt(r.cpu.model_ms, 2)} | {_fmt(r.cpu.request_path_ms, 2)} "
            f"| {_fmt(r.peak_rss_mb, 0)} | {_fmt(r.model.mean_batch)} | {_fmt(r.model.busy, 2)} "
            f"| {_fmt(r.limit_images_per_s)} | {_fmt(r.ratio_to_limit, 2)} "
            f"| {_fmt(r.runner_limit_images_per_s)} | {_fmt(r.ratio_to_runner, 2)} "
            f"| {_fmt(r.foreign_cpu_percent, 0)} |"
        )
    return "\n".join(lines)


def targets_text(result: dict[str, Any]) -> str:
    lines = [f"targets ({result['scenario']}, Grad-CAM on):"]
    if "throughput" in result:
        t = result["throughput"]
        lines.append(
            f"  throughput at best concurrency ({t['best_concurrency']}): {t['images_per_s']:.1f} img/s = "
            f"{t['ratio']:.2f} x model limit {t['model_limit']:.1f} (target >= {t['target']}): "
            f"{'met' if t['met'] else 'NOT met'}"
        )
    if "p50_at_concurrency_1" in result:
        t = result["p50_at_concurrency_1"]
        lines.append(
            f"  p50 at concurrency 1: {t['p50_ms']:.1f} ms = {t['ratio']:.2f} x model batch-1 latency "
            f"{t['model_batch1_ms']:.1f} ms (target <= {t['target']}): {'met' if t['met'] else 'NOT met'}"
        )
    at = result.get("at_concurrency", {})
    if "vs_model_limit" in at:
        t = at["vs_model_limit"]
        lines.append(
            f"  at concurrency {at['concurrency']}: {t['images_per_s']:.1f} img/s = {t['ratio']:.2f} x the "
            f"eager model limit {t['model_limit']:.1f} (target >= {t['target']}): "
            f"{'met' if t['met'] else 'NOT met'}"
        )
    if "vs_runner_limit" in at:
        t = at["vs_runner_limit"]
        split = t["cpu_ms_per_request"]
        lines.append(
            f"  at concurrency {at['concurrency']}: {t['images_per_s']:.1f} img/s = {t['ratio']:.2f} x the "
            f"runner's own limit {t['runner_limit']:.1f} (target >= {t['target']}): "
            f"{'met' if t['met'] else 'NOT met'}; mean batch {_fmt(t['mean_batch'])}, CPU per request "
            f"{_fmt(split['model'], 2)} ms model + {_fmt(split['request_path'], 2)} ms request path"
        )
    if "vs_peer" in at:
        t = at["vs_peer"]
        lines.append(
            f"  at concurrency {at['concurrency']}: {t['ratio']:.1f} x the paper-style peer's "
            f"{t['peer_images_per_s']:.1f} req/s (target >= {t['target']}): "
            f"{'met' if t['met'] else 'NOT met'}"
        )
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    def default(value: object) -> object:
        return value.to_dict() if isinstance(value, Row) else str(value)

    text = json.dumps(payload, indent=2, default=default, allow_nan=True)
    path.write_text(text + "\n")


def plot(path: Path, rows: Sequence[Row], title: str) -> None:
    """Throughput and p99 latency against concurrency, one line per scenario and Grad-CAM setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_tp, ax_p99) = plt.subplots(1, 2, figsize=(12, 4.5))
    scenarios = sorted({r.scenario for r in rows})
    for scenario, gradcam in sorted({(r.scenario, r.gradcam) for r in rows}):
        picked = sorted(
            (r for r in rows if (r.scenario, r.gradcam) == (scenario, gradcam)), key=lambda r: r.concurrency
        )
        xs = [r.concurrency for r in picked]
        colour = f"C{2 * scenarios.index(scenario) + (0 if gradcam else 1)}"
        style = {"color": colour, "marker": "o", "linestyle": "-" if gradcam else "--"}
        label = f"{scenario}, Grad-CAM {'on' if gradcam else 'off'}"
        ax_tp.plot(xs, [r.throughput for r in picked], label=label, **style)
        ax_p99.plot(xs, [r.latency.p99_ms for r in picked], **style)
        limit = picked[0].limit_images_per_s
        if not math.isnan(limit):
            ax_tp.axhline(limit, color=colour, linestyle=":", linewidth=1)
    ax_tp.set(xscale="log", xlabel="concurrency", ylabel="requests/s (dotted: model limit)", ylim=(0, None))
    ax_p99.set(xscale="log", xlabel="concurrency", ylabel="p99 latency (ms)", ylim=(0, None))
    for ax in (ax_tp, ax_p99):
        ax.set_xticks(sorted({r.concurrency for r in rows}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.grid(True, alpha=0.3)
    ax_tp.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
