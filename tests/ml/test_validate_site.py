"""``python -m ml validate-site``: a folder of generated films run as the service runs them, the report it
writes, its figures against labels, and its refusals of bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml.__main__ import run
from ml.classes import CLASSES
from ml.decoding import SERVED_KINDS, SERVED_LIMITS
from ml.site import cli
from ml.site.served import ServedModel
from ml.site.stats import labelled_metrics, stream_figures, wilson
from ml.site.verdict import judge
from service.pipeline import Pipeline
from service.runner import ModelRunner, WorkItem
from service.settings import Settings
from service.upload import ACCEPTED_KINDS
from tests.support.gate import random_gate
from tests.support.images import dicom_bytes, jpeg_bytes, pattern, png_bytes, to_uint8
from tests.support.monitor import with_monitor
from tests.support.weights import write_random_weights

ROOT = Path(__file__).resolve().parents[2]
VALIDATION = {"validation": {"accuracy": 0.97, "per_class": {name: {"recall": 0.95} for name in CLASSES}}}


def write_site(root: Path, pngs: int = 6) -> Path:
    """``pngs`` PNG films, a JPEG and a DICOM one, and three files the service refuses."""
    for i in range(pngs):
        path = root / CLASSES[i % 3] / f"site-{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(96, 80, seed=i))
    (root / "Normal" / "other-a.jpg").write_bytes(jpeg_bytes(96, 80, seed=50))
    (root / "Normal" / "other-b.dcm").write_bytes(dicom_bytes(to_uint8(pattern(96, 96, seed=51))))
    (root / "notes.txt").write_text("not an image")
    (root / "Normal" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (root / "Normal" / "tiny.png").write_bytes(png_bytes(32, 32))
    return root


@pytest.fixture(scope="module")
def unfamiliar_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "unfamiliar.safetensors"
    return write_random_weights(path, VALIDATION, gate=with_monitor(random_gate(), familiar=False))


@pytest.fixture(scope="module")
def familiar_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "familiar.safetensors"
    return write_random_weights(path, VALIDATION, gate=with_monitor(random_gate(), familiar=True))


def validate(weights: Path, site: Path, out: Path, *extra: str) -> dict[str, Any]:
    args = ["validate-site", str(site), "--weights", str(weights), "--out", str(out), "--no-progress"]
    assert run([*args, *extra]) == 0
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


def images(out: Path) -> list[dict[str, str]]:
    with (out / "images.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_report_has_every_section_and_counts_refused_files(
    unfamiliar_weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"

    summary = validate(unfamiliar_weights, write_site(tmp_path / "site"), out)

    rows = images(out)
    assert summary["files"] == {
        "found": 11,
        "read": 8,
        "skipped": {
            "not PNG, JPEG or DICOM (or an unsupported DICOM encoding)": 1,
            "damaged or unreadable image": 1,
            "a side too short": 1,
        },
    }
    assert [row["file"] for row in rows] == sorted(row["file"] for row in rows)
    assert {row["file"].rsplit(".", 1)[1] for row in rows} == {"png", "jpg", "dcm"}
    report = (out / "report.md").read_text()
    for heading in ("How far the films are", "Answers and flags", "How this was run"):
        assert f"## {heading}" in report
    assert "Research use only" in report and "## Against the labels" not in report
    for plot in ("monitor.png", "scores.png", "answers.png"):
        assert (out / plot).stat().st_size > 1000 and f"({plot})" in report
    assert not list(out.glob("*.dcm")) and not list(out.glob("site-*"))


def test_an_unfamiliar_source_raises_the_alarm_from_the_windows_first_answer(
    unfamiliar_weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    summary = validate(unfamiliar_weights, write_site(tmp_path / "site"), out)

    monitor = summary["monitor"]
    assert monitor["stream"]["first_alarm"] == 4
    assert monitor["stream"]["alarm_after_window"]["value"] == 1.0
    assert monitor["familiarity"]["mean"] == 0.0
    assert summary["answers"]["reasons"]["unfamiliar_source"] == 5
    assert summary["verdict"]["status"] == "not_validated"
    assert "alarm was on for 100.0%" in summary["verdict"]["headline"]
    alarms = [row["alarm"] for row in images(out)]
    assert alarms == ["False"] * 3 + ["True"] * 5
    assert [row["reasons"] for row in images(out)][3:] == ["unfamiliar_source"] * 5


def test_a_familiar_source_raises_no_alarm(familiar_weights: Path, tmp_path: Path) -> None:
    summary = validate(familiar_weights, write_site(tmp_path / "site"), tmp_path / "report")

    assert summary["monitor"]["stream"]["first_alarm"] is None
    assert summary["monitor"]["familiarity"]["mean"] == 1.0
    assert "unfamiliar_source" not in summary["answers"]["reasons"]
    assert summary["verdict"]["status"] == "consistent"
    assert summary["verdict"]["headline"].startswith("No sign of an unfamiliar source on these 8 films")


def test_labelled_figures_count_the_answers_against_the_labels(
    familiar_weights: Path, tmp_path: Path
) -> None:
    site = write_site(tmp_path / "site")
    validate(familiar_weights, site, tmp_path / "first")
    answers = images(tmp_path / "first")
    # Three labelled as answered, two as another class, three unlabelled; one row names no file.
    rows = [(row["file"], row["answer"]) for row in answers[:3]]
    rows += [(row["file"], CLASSES[(CLASSES.index(row["answer"]) + 1) % 3]) for row in answers[3:5]]
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "file,label,source\n" + "".join(f"./{f},{label},x\n" for f, label in rows) + "gone.png,COVID,x\n"
    )

    out = tmp_path / "labelled"
    summary = validate(familiar_weights, site, out, "--labels", str(labels))

    figures = summary["labels"]
    assert (figures["labelled"], figures["unlabelled"], figures["unmatched_rows"]) == (5, 3, 1)
    assert (figures["accuracy"]["hits"], figures["accuracy"]["n"]) == (3, 5)
    assert sum(map(sum, figures["confusion_matrix"])) == 5
    assert figures["accuracy_unflagged"]["n"] == 5
    assert summary["verdict"]["status"] == "not_validated"
    assert (
        "accuracy 60.0% [23.1%–88.2%] against the validation split's 97.0%" in summary["verdict"]["headline"]
    )
    assert [row["label"] for row in images(out)] == [label for _, label in rows] + [""] * 3
    report = (out / "report.md").read_text()
    assert "## Against the labels" in report and (out / "confusion.png").is_file()
    assert (out / "reliability.png").is_file()


def test_metrics_and_intervals_on_a_known_case() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    answers = np.array([0, 0, 1, 1, 1, 0])
    probs = np.full((6, 3), 0.1)
    probs[np.arange(6), answers] = 0.8

    figures = labelled_metrics(probs, labels, list(CLASSES))

    assert figures["accuracy"]["hits"] == 4 and figures["accuracy"]["value"] == pytest.approx(4 / 6)
    covid, normal, viral = (figures["per_class"][name] for name in CLASSES)
    assert (covid["recall"]["hits"], covid["recall"]["n"], covid["precision"]["n"]) == (2, 3, 3)
    assert (normal["recall"]["value"], normal["precision"]["value"]) == (1.0, pytest.approx(2 / 3))
    assert viral["recall"]["value"] == 0.0 and viral["precision"]["value"] is None
    assert figures["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    # Every answer is 0.8 sure and right on 4 of 6: |0.8 - 2/3|.
    assert figures["ece"] == pytest.approx(0.8 - 4 / 6)
    # Published Wilson intervals (Newcombe 1998): 8/10 -> 0.490-0.943, 0/10 -> 0-0.278.
    assert wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    stream = stream_figures([False, False, True, True, False, True], window=2)
    assert stream["first_alarm"] == 3 and stream["alarm_after_window"]["hits"] == 3


def test_the_verdict_fails_a_class_whose_recall_is_far_below_validation() -> None:
    recall = {"value": 0.5, "low": 0.3, "high": 0.7, "hits": 10, "n": 20}
    fine = {"value": 0.97, "low": 0.93, "high": 0.99, "hits": 97, "n": 100}
    summary = {
        "files": {"read": 100},
        "monitor": None,
        "answers": {"in_scope": fine},
        "labels": {"accuracy": fine, "per_class": {"COVID": {"recall": recall}, "Normal": {"recall": fine}}},
        "validation": {
            "accuracy": 0.97,
            "per_class": {"COVID": {"recall": 0.95}, "Normal": {"recall": 0.98}},
        },
    }

    verdict = judge(summary)

    assert verdict.status == "not_validated"
    assert verdict.failures == [
        "COVID recall 50.0% [30.0%–70.0%] against the validation split's 95.0% "
        "(rule: its interval reaches 85.0%)"
    ]


def test_too_few_films_for_the_window_are_too_few_to_judge(familiar_weights: Path, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", pngs=2)

    summary = validate(familiar_weights, site, tmp_path / "out", "--glob", "*.png")

    assert summary["files"]["read"] == 2
    assert summary["verdict"]["status"] == "too_few"
    assert summary["verdict"]["headline"].startswith("Too few films to judge: 2 in-scope answers")


def test_glob_matches_names_or_relative_paths(familiar_weights: Path, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site")

    by_name = validate(familiar_weights, site, tmp_path / "a", "--glob", "site-0[0-3].png")
    by_path = validate(familiar_weights, site, tmp_path / "b", "--glob", "Normal/*")

    assert by_name["files"]["found"] == 4
    assert by_path["files"] == {
        "found": 6,
        "read": 4,
        "skipped": {"damaged or unreadable image": 1, "a side too short": 1},
    }


def test_batched_answers_equal_one_at_a_time(familiar_weights: Path, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site")
    validate(familiar_weights, site, tmp_path / "one", "--batch-size", "1")
    validate(familiar_weights, site, tmp_path / "many", "--batch-size", "5")

    one, many = images(tmp_path / "one"), images(tmp_path / "many")

    assert [r["file"] for r in one] == [r["file"] for r in many]
    for a, b in zip(one, many, strict=True):
        assert (a["answer"], a["in_scope"], a["reasons"]) == (b["answer"], b["in_scope"], b["reasons"])
        for name in CLASSES:
            assert float(a[f"p_{name}"]) == pytest.approx(float(b[f"p_{name}"]), abs=1e-5)


def bad_labels(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return ["--labels", str(path)]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing folder", "no such folder"),
        ("empty folder", "the folder holds no file"),
        ("no image", "none of its 2 files is an image the service reads (1 not PNG, JPEG or DICOM"),
        ("glob matches nothing", "no file matches --glob 'nothing-*'"),
        ("no label column", "needs a header with 'file' and 'label' columns, found 'file', 'class'"),
        ("unknown class", "line 2: unknown class 'Pneumonia'; the model's classes are COVID, Normal"),
        ("labels match no file", "none of its 1 labelled files is among the 11 files read"),
        ("labelled twice", "'Normal/tiny.png' is labelled twice, differently"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    familiar_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    site = tmp_path / "site"
    extra: list[str] = []
    if case == "empty folder":
        (site / "sub").mkdir(parents=True)
    elif case == "no image":
        site.mkdir()
        (site / "a.txt").write_text("text")
        (site / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    elif case != "missing folder":
        write_site(site)
    if case == "glob matches nothing":
        extra = ["--glob", "nothing-*"]
    elif case == "no label column":
        extra = bad_labels(tmp_path, "file,class\nnotes.txt,COVID\n")
    elif case == "unknown class":
        extra = bad_labels(tmp_path, "file,label\nNormal/tiny.png,Pneumonia\n")
    elif case == "labels match no file":
        extra = bad_labels(tmp_path, "file,label\nelsewhere.png,COVID\n")
    elif case == "labelled twice":
        extra = bad_labels(tmp_path, "file,label\nNormal/tiny.png,COVID\nNormal/tiny.png,Normal\n")

    with pytest.raises(SystemExit) as exit_:
        run(
            [
                "validate-site",
                str(site),
                "--weights",
                str(familiar_weights),
                "--out",
                str(tmp_path / "o"),
                *extra,
            ]
        )

    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "python -m ml validate-site: error:" in err and message in err and "Traceback" not in err


def test_each_film_gets_the_answer_the_service_gives_it(familiar_weights: Path) -> None:
    model = ServedModel.load(familiar_weights, "auto", SERVED_LIMITS)
    spec = model.metadata.preprocessing
    pipeline = Pipeline(SERVED_LIMITS, spec, model.scope_size, overlay_max_side=64)
    runner = ModelRunner(model.metadata, model.engine, model.gate)
    uploads = [("image/png", png_bytes(96, 80, seed=i)) for i in range(3)]
    uploads += [("image/jpeg", jpeg_bytes(80, 96, seed=9))]

    ours = model.answer([model.prepare(body) for _, body in uploads])

    served = [pipeline.prepare(kind, body, with_canvas=False) for kind, body in uploads]
    theirs = runner.run([WorkItem(p.inputs, p.scope_inputs, p.facts) for p in served], [False] * len(served))
    for mine, service in zip(ours, theirs, strict=True):
        assert tuple(mine.probabilities.tolist()) == service.probabilities
        assert mine.assessment == service.assessment
        assert mine.predicted == service.label_index


def test_it_decodes_with_the_services_default_kinds_limits_and_weights() -> None:
    fields = Settings.model_fields
    assert SERVED_KINDS == ACCEPTED_KINDS
    assert (SERVED_LIMITS.max_pixels, SERVED_LIMITS.min_side) == (
        fields["max_pixels"].default,
        fields["min_side"].default,
    )
    assert fields["weights_path"].default == cli.DEFAULT_WEIGHTS


@pytest.mark.slow
def test_the_default_path_runs_with_torch_unimportable(familiar_weights: Path, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site")
    code = f"""
    import sys
    sys.modules["torch"] = None  # as if not installed: importing it fails
    from ml.__main__ import run
    rc = run(["validate-site", {str(site)!r}, "--weights", {str(familiar_weights)!r}, "--out",
              {str(tmp_path / "out")!r}, "--no-progress"])
    print("torch loaded:", sorted(m for m, mod in sys.modules.items() if m.split(".")[0] == "torch" and mod))
    sys.exit(rc)
    """

    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "torch loaded: []" in done.stdout
    assert (tmp_path / "out" / "report.md").is_file()


def test_without_the_report_extra_it_says_what_to_install(familiar_weights: Path, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site")
    code = f"""
    import sys
    sys.modules["matplotlib"] = None  # as in a serving install without the report extra
    from ml.__main__ import run
    run(["validate-site", {str(site)!r}, "--weights", {str(familiar_weights)!r}, "--out",
         {str(tmp_path / "out")!r}, "--no-progress"])
    """

    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 2
    assert "pip install 'cxr-service[report]'" in done.stderr
    assert "Traceback" not in done.stderr
