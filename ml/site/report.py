"""What a site validation writes: ``report.md`` with its PNG plots, ``summary.json`` and ``images.csv``.

No image is written or copied. ``images.csv`` names each file (relative to the folder) with its answer;
the report and the summary name none.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from ml.site import plots
from ml.site.figures import confidence_percentiles, scores
from ml.site.run import FilmResult, SiteRun
from ml.site.served import ServedModel
from ml.site.verdict import NOT_VALIDATED, RESEARCH_ONLY, RULES, Verdict, interval, pct

OUTPUTS = ("report.md", "summary.json", "images.csv", "answers.png", "scores.png", "monitor.png")
OUTPUTS_WITH_LABELS = ("confusion.png", "reliability.png")
SCORES = ("chest_xray", "typicality", "confidence", "familiarity")
"""The assessment's scores, as ``images.csv`` columns."""


def write_report(
    out: Path,
    title: str,
    command: str,
    model: ServedModel,
    run: SiteRun,
    summary: dict[str, Any],
    verdict: Verdict,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS + OUTPUTS_WITH_LABELS:  # none left over from an earlier run
        (out / name).unlink(missing_ok=True)
    summary = {"title": title, "command": command, "verdict": verdict.to_dict(), **summary}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_images_csv(out / "images.csv", run.films, model.classes)
    in_scope = [f for f in run.films if f.assessment.in_scope]
    plots.plot_answers(out / "answers.png", run.films, model.classes)
    named: dict[str, np.ndarray | None] = {
        "familiarity": scores(in_scope, "familiarity"),
        "typicality": scores(in_scope, "typicality"),
    }
    named["confidence percentile"] = confidence_percentiles(model, in_scope)
    plots.plot_scores(out / "scores.png", named, even=("typicality", "confidence percentile"))
    if summary["monitor"] is not None:
        plots.plot_stream(out / "monitor.png", run.films, summary["monitor"])
    labels = summary["labels"]
    if labels is not None:
        plots.plot_confusion(out / "confusion.png", np.array(labels["confusion_matrix"]), model.classes)
        plots.plot_reliability(out / "reliability.png", labels["reliability"], labels["ece"])
    (out / "report.md").write_text(render(summary))


def write_images_csv(path: Path, films: list[FilmResult], classes: list[str]) -> None:
    columns = ["file", "label", "answer", *(f"p_{name}" for name in classes), "in_scope", "uncertain"]
    columns += ["reasons", *SCORES]
    columns += ["window_answers", "statistic", "alarm"]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for film in films:
            a, w = film.assessment, film.window
            writer.writerow(
                [
                    film.file,
                    "" if film.label is None else classes[film.label],
                    classes[film.predicted],
                    *(f"{p:.6f}" for p in film.probabilities),
                    a.in_scope,
                    a.uncertain,
                    ";".join(a.reasons),
                    *("" if a.scores.get(k) is None else a.scores[k] for k in SCORES),
                    "" if w is None else w.answers,
                    "" if w is None or w.statistic is None else f"{w.statistic:.4f}",
                    "" if w is None else w.alarm,
                ]
            )


def render(s: dict[str, Any]) -> str:
    verdict = s["verdict"]
    lines = [f"# Site validation: {s['title']}", ""]
    if verdict["failures"]:
        lines += [f"**{NOT_VALIDATED}:**", "", *(f"- {failure};" for failure in verdict["failures"])]
    else:
        lines.append(f"**{verdict['headline']}**")
    lines += [
        "",
        *(part for note in verdict["notes"] for part in (f"Note: {note}", "")),
        f"_{RESEARCH_ONLY}_",
        "",
    ]
    lines += _files(s) + _monitor(s) + _answers(s) + _labels(s)
    weights = s["weights"]
    lines += [
        "## How this was run",
        "",
        f"`{s['command']}`",
        "",
        f"Weights {weights['name']} {weights['version']} (sha256 `{weights['sha256'][:16]}…`), engine "
        f"`{weights['engine']}` on the CPU, as the service runs them with its default settings.",
        "",
        "The verdict's rules (`ml/site/verdict.py`): the films are not validated unless",
        "",
        *(f"- {rule};" for rule in RULES),
        "",
    ]
    return "\n".join(lines)


def _files(s: dict[str, Any]) -> list[str]:
    files, limits = s["files"], s["limits"]
    lines = [
        "## The films",
        "",
        f"{files['found']} files, {files['read']} read as the service reads an upload "
        f"({', '.join(k.upper() for k in limits['kinds'])} by their first bytes; at most "
        f"{limits['max_pixels']:,} pixels, sides of at least {limits['min_side']}) and sent in sorted order "
        "as one site.",
        "",
    ]
    if files["skipped"]:
        lines += ["| not read, because | files |", "| --- | --- |"]
        lines += [f"| {reason} | {count} |" for reason, count in files["skipped"].items()]
        lines.append("")
    labels = s["labels"]
    if labels is not None:
        lines += [
            f"{labels['labelled']} of them are labelled ({labels['unlabelled']} not); "
            f"{labels['unmatched_rows']} rows of the labels CSV name no file read.",
            "",
        ]
    return lines


def _mean_row(name: str, figure: dict[str, Any] | None) -> str:
    if figure is None:
        return f"| {name} | n/a |"
    spread = "" if figure["low"] is None else f" [{figure['low']:.3f}–{figure['high']:.3f}]"
    z = "" if figure["z"] is None else f", z = {figure['z']:.1f}"
    return f"| {name} | {figure['mean']:.3f}{spread} (familiar: {figure['expected']:.2f}{z}) |"


def _monitor(s: dict[str, Any]) -> list[str]:
    lines = ["## How far the films are from the training data", ""]
    m = s["monitor"]
    if m is None:
        return [*lines, "These weights carry no source-shift monitor.", ""]
    stream, window = m["stream"], m["window"]
    first = "never" if stream["first_alarm"] is None else f"answer {stream['first_alarm']}"
    share, flagged = stream["alarm_after_window"], m["flagged_after_window"]
    lines += [
        "Each in-scope answer's **familiarity** is the mean of two percentiles among the validation "
        "answers of the same class: how far its features are, and how sure it is. Familiar films average "
        f"0.5 whatever their class. The service's monitor averages the last {window} in-scope answers of a "
        f"site; its alarm starts below {m['alarm_below']:.4f} and ends above {m['clear_above']:.4f}, and "
        "while it is on every answer is `unfamiliar_source`.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| in-scope answers | {m['in_scope_answers']} |",
        f"| first answer with the alarm on | {first} |",
        f"| alarm on, answers after the first {window} | "
        + (f"{interval(share)} of {share['n']} |" if share["n"] else "n/a (too few answers) |"),
        f"| flagged for any reason, answers after the first {window} | "
        + (f"{interval(flagged)} of {flagged['n']} |" if flagged["n"] else "n/a |"),
        _mean_row("mean familiarity", m["familiarity"]),
        _mean_row("mean typicality", s["scores"]["typicality"]),
        _mean_row("mean confidence percentile", s["scores"]["confidence_percentile"]),
        "",
        "![The monitor's statistic along the films](monitor.png)",
        "",
        "![Per-image scores of the in-scope answers](scores.png)",
        "",
    ]
    return lines


def _answers(s: dict[str, Any]) -> list[str]:
    a = s["answers"]
    total = sum(a["per_class"].values())
    lines = ["## Answers and flags", "", "| answer | films |", "| --- | --- |"]
    lines += [f"| {name} | {count} ({pct(count / total)}) |" for name, count in a["per_class"].items()]
    lines += ["", "| flag | films |", "| --- | --- |"]
    for key, name in (
        ("in_scope", "in scope"),
        ("uncertain", "uncertain (in scope)"),
        ("flagged", "flagged: out of scope or uncertain"),
        ("flagged_by_the_monitor_alone", "flagged by the monitor alone"),
    ):
        lines.append(f"| {name} | {a[key]['hits']} ({pct(a[key]['value'])}) |")
    lines += ["", "| reason | films |", "| --- | --- |"]
    lines += [f"| `{reason}` | {count} |" for reason, count in a["reasons"].items()] or ["| none | 0 |"]
    return [*lines, "", "![Answers and flags](answers.png)", ""]


def _labels(s: dict[str, Any]) -> list[str]:
    labels = s["labels"]
    if labels is None:
        return []
    validation = s["validation"] or {}
    recorded = validation.get("per_class", {})

    def ref(value: float | None) -> str:
        return "n/a" if value is None else pct(value)

    lines = [
        "## Against the labels",
        "",
        f"{labels['labelled']} labelled films; 95% Wilson intervals.",
        "",
        "| figure | these films | validation split |",
        "| --- | --- | --- |",
        f"| accuracy | {interval(labels['accuracy'])} | {ref(validation.get('accuracy'))} |",
    ]
    for name, figures in labels["per_class"].items():
        for kind in ("precision", "recall"):
            figure = figures[kind]
            shown = f"{interval(figure)} of {figure['n']}" if figure["n"] else "n/a (none)"
            lines.append(f"| {name} {kind} | {shown} | {ref(recorded.get(name, {}).get(kind))} |")
    val_ece = validation.get("ece")
    lines.append(
        f"| ECE (15 bins) | {labels['ece']:.4f} | {'n/a' if val_ece is None else f'{val_ece:.4f}'} |"
    )
    for key, name in (("accuracy_flagged", "flagged answers"), ("accuracy_unflagged", "unflagged answers")):
        figure = labels[key]
        shown = f"{interval(figure)} of {figure['n']}" if figure["n"] else "n/a (none)"
        lines.append(f"| accuracy of {name} | {shown} | |")
    classes = s["weights"]["classes"]
    lines += ["", "Confusion matrix (rows: label, columns: answer):", ""]
    lines += ["| label \\ answer | " + " | ".join(classes) + " |", "| --- |" + " --- |" * len(classes)]
    for name, row in zip(classes, labels["confusion_matrix"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "![Confusion matrix](confusion.png)", "", "![Reliability diagram](reliability.png)", ""]
    return lines
