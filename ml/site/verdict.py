"""The verdict of a site validation: its rules, all here, and their outcome in plain words.

The films are **not validated** when any rule below fails; else, with fewer in-scope answers than the
monitor's window, there are **too few** to judge; else they are **consistent** with the validation figures
(with labels) or show no sign of an unfamiliar source (without). Either way it is a research-use check of
this model on these films, never a clinical validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

MAX_ALARM_SHARE: Final = 0.10
"""The monitor's alarm may be on for at most this share of the answers after the first window."""
FAMILIARITY_MARGIN: Final = 0.05
"""The set's mean familiarity: its 95% interval must reach the familiar mean (0.5) less this."""
MIN_IN_SCOPE_SHARE: Final = 0.5
"""At least this share of the films read must be in the model's scope."""
ACCURACY_MARGIN: Final = 0.05
"""With labels, accuracy's 95% interval must reach the validation split's accuracy less this."""
RECALL_MARGIN: Final = 0.10
"""With labels, each class's recall interval must reach its validation recall less this..."""
MIN_CLASS_FILMS: Final = 10
"""... for each class with at least this many labelled films (fewer say too little to judge)."""
RULES: Final = (
    f"alarm on for at most {MAX_ALARM_SHARE:.0%} of the answers after the first window",
    f"the mean familiarity's 95% interval reaches the familiar mean less {FAMILIARITY_MARGIN}",
    f"at least {MIN_IN_SCOPE_SHARE:.0%} of the films in scope",
    f"with labels: accuracy's 95% interval reaches the validation accuracy less {ACCURACY_MARGIN * 100:.0f} "
    "points",
    f"with labels: each class with {MIN_CLASS_FILMS} or more films has a recall interval reaching its "
    f"validation recall less {RECALL_MARGIN * 100:.0f} points",
)
NOT_VALIDATED: Final = "Not validated for these films"
RESEARCH_ONLY: Final = (
    "Research use only: this compares the model's behaviour on these films with its validation figures; "
    "it is not a clinical validation."
)


@dataclass
class Verdict:
    status: str
    """``not_validated``, ``too_few`` or ``consistent``."""
    headline: str
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "headline": self.headline,
            "failures": self.failures,
            "notes": self.notes,
        }


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def interval(figure: dict[str, Any]) -> str:
    return f"{pct(figure['value'])} [{pct(figure['low'])}–{pct(figure['high'])}]"


def judge(summary: dict[str, Any]) -> Verdict:
    """``summary``: :func:`ml.site.figures.summarize`'s figures."""
    failures: list[str] = []
    notes: list[str] = []
    read = summary["files"]["read"]
    _monitor(summary.get("monitor"), failures, notes)
    in_scope = summary["answers"]["in_scope"]
    if in_scope["value"] < MIN_IN_SCOPE_SHARE:
        failures.append(
            f"only {pct(in_scope['value'])} of the films are in the model's scope (rule: at least "
            f"{MIN_IN_SCOPE_SHARE:.0%})"
        )
    if summary.get("labels") is not None:
        _labels(summary["labels"], summary.get("validation") or {}, failures, notes)
    else:
        notes.append("No labels were given: accuracy, recall and calibration are unchecked.")
    if failures:
        return Verdict("not_validated", f"{NOT_VALIDATED}: " + "; ".join(failures) + ".", failures, notes)
    monitor = summary.get("monitor")
    if monitor is not None and monitor["in_scope_answers"] < monitor["window"]:
        head = (
            f"Too few films to judge: {monitor['in_scope_answers']} in-scope answers, fewer than the "
            f"monitor's window of {monitor['window']}."
        )
        return Verdict("too_few", head, failures, notes)
    if summary.get("labels") is not None:
        accuracy = summary["labels"]["accuracy"]
        head = (
            f"Consistent with the validation figures on these {read} films: accuracy {interval(accuracy)}, "
            "and no rule below fails."
        )
    else:
        head = (
            f"No sign of an unfamiliar source on these {read} films; without labels, accuracy is unchecked."
        )
    return Verdict("consistent", head, failures, notes)


def _monitor(monitor: dict[str, Any] | None, failures: list[str], notes: list[str]) -> None:
    if monitor is None:
        notes.append("These weights carry no source-shift monitor: its rules are not applied.")
        return
    share = monitor["stream"]["alarm_after_window"]
    if share["n"] and share["value"] > MAX_ALARM_SHARE:
        failures.append(
            f"the source-shift monitor's alarm was on for {pct(share['value'])} of the answers after the "
            f"first {monitor['window']} (rule: at most {MAX_ALARM_SHARE:.0%})"
        )
    familiarity = monitor.get("familiarity")
    floor = monitor["familiar_mean"] - FAMILIARITY_MARGIN
    if familiarity is not None and familiarity["high"] is not None and familiarity["high"] < floor:
        failures.append(
            f"the films' mean familiarity is {familiarity['mean']:.3f} [{familiarity['low']:.3f}–"
            f"{familiarity['high']:.3f}], far below the training data's {monitor['familiar_mean']:.2f} "
            f"(rule: its interval reaches {floor:.2f})"
        )


def _labels(
    labels: dict[str, Any], validation: dict[str, Any], failures: list[str], notes: list[str]
) -> None:
    accuracy = labels["accuracy"]
    if "accuracy" in validation:
        floor = validation["accuracy"] - ACCURACY_MARGIN
        if accuracy["high"] < floor:
            failures.append(
                f"accuracy {interval(accuracy)} against the validation split's {pct(validation['accuracy'])} "
                f"(rule: its interval reaches {pct(floor)})"
            )
    else:
        notes.append("The weights record no validation accuracy: the accuracy rule is not applied.")
    recorded = validation.get("per_class", {})
    for name, figures in labels["per_class"].items():
        recall = figures["recall"]
        if recall["n"] == 0:
            continue
        if recall["n"] < MIN_CLASS_FILMS:
            notes.append(f"{name}: {recall['n']} labelled films, too few to judge its recall.")
            continue
        expected = recorded.get(name, {}).get("recall")
        if expected is not None and recall["high"] < expected - RECALL_MARGIN:
            failures.append(
                f"{name} recall {interval(recall)} against the validation split's {pct(expected)} "
                f"(rule: its interval reaches {pct(expected - RECALL_MARGIN)})"
            )
