"""The source-shift monitor: its statistic, window and hysteresis, its fit, and its place in the weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from ml.engine.gate import ServingGate
from ml.gate import monitor as monitor_fit
from ml.gate.monitor import MonitorTargets, ReferenceAnswers, fit_monitor, leave_one_out, window_means
from ml.model import load_weights
from ml.model.monitor import Familiarity, MonitorConfig, SourceWindow
from ml.model.weights_file import WeightsError, read_header, read_weights
from tests.support.gate import ALARMED, CALM, random_gate, spread_familiarity
from tests.support.weights import write_random_weights

HYSTERESIS = MonitorConfig(window=4, alarm_below=0.3, clear_above=0.45)


def test_a_median_answer_is_familiar_and_a_far_unsure_one_is_not() -> None:
    familiarity = spread_familiarity()

    median = familiarity.score(0, distance=2.5, confidence=(1 / 3 + 1) / 2)
    strange = familiarity.score(0, distance=9.0, confidence=0.3)

    assert median == pytest.approx(0.5, abs=0.01)
    assert strange == 0.0


def test_familiarity_is_judged_among_the_answers_of_the_same_class() -> None:
    near, far = np.linspace(0.0, 1.0, 50), np.linspace(5.0, 6.0, 50)
    sure = np.linspace(0.9, 1.0, 50)
    familiarity = Familiarity([near, far], [sure, sure])

    # The same distance is the furthest of all for class 0 and closer than all for class 1.
    assert familiarity.score(0, 2.0, 0.95) < 0.3
    assert familiarity.score(1, 2.0, 0.95) > 0.7
    batch = familiarity.scores(np.array([0, 1]), np.array([2.0, 2.0]), np.array([0.95, 0.95]))
    assert batch.tolist() == [familiarity.score(0, 2.0, 0.95), familiarity.score(1, 2.0, 0.95)]


def test_the_window_has_no_statistic_until_it_is_full() -> None:
    window = SourceWindow(HYSTERESIS)

    states = [window.observe(0.0) for _ in range(3)]

    assert [(s.answers, s.statistic, s.alarm) for s in states] == [
        (1, None, False),
        (2, None, False),
        (3, None, False),
    ]
    assert window.observe(0.0) == replace(states[0], answers=4, statistic=0.0, alarm=True)


def test_the_alarm_holds_between_the_thresholds_and_clears_above_the_upper_one() -> None:
    window = SourceWindow(HYSTERESIS)
    for _ in range(4):
        window.observe(0.2)
    assert window.alarm

    between = [window.observe(0.4) for _ in range(4)]
    assert all(s.alarm for s in between) and between[-1].statistic == pytest.approx(0.4)

    cleared = [window.observe(0.6) for _ in range(2)]
    assert cleared[-1].statistic == pytest.approx(0.5) and not cleared[-1].alarm
    # And it does not start again between the thresholds.
    assert not any(window.observe(0.4).alarm for _ in range(4))


def test_an_answer_without_familiarity_leaves_the_window_as_it_was() -> None:
    window = SourceWindow(HYSTERESIS)
    for _ in range(4):
        window.observe(0.1)

    state = window.observe(None)

    assert (state.answers, state.alarm) == (4, True)
    assert state.statistic == pytest.approx(0.1)


def test_a_monitor_with_thresholds_out_of_order_is_refused() -> None:
    with pytest.raises(ValueError, match="alarm_below"):
        MonitorConfig(window=16, alarm_below=0.5, clear_above=0.4)
    with pytest.raises(ValueError, match="window"):
        MonitorConfig(window=0, alarm_below=0.1, clear_above=0.4)


def test_leave_one_out_familiarity_of_the_reference_is_uniform() -> None:
    rng = np.random.default_rng(0)
    predicted = rng.integers(0, 3, 3000)
    distance, confidence = rng.gamma(2.0, size=3000), rng.uniform(0.4, 1.0, 3000)
    familiarity = Familiarity.fit(predicted, distance, confidence, 3)

    scores = leave_one_out(familiarity, predicted, distance, confidence)

    # The mean of two independent uniform percentiles: mean 1/2, variance 1/24.
    assert scores.mean() == pytest.approx(0.5, abs=0.01)
    assert scores.var() == pytest.approx(1 / 24, rel=0.1)


def test_window_means_average_every_run_of_consecutive_scores() -> None:
    assert window_means(np.arange(5.0), 2).tolist() == [0.5, 1.5, 2.5, 3.5]
    assert window_means(np.arange(3.0), 4).tolist() == []


def _reference(rng: np.random.Generator, n: int = 1200) -> ReferenceAnswers:
    predicted = rng.integers(0, 3, n)
    return ReferenceAnswers(
        predicted=predicted,
        confidence=rng.uniform(0.4, 1.0, n),
        distance=rng.gamma(2.0, size=n),
        in_scope=rng.random(n) > 0.01,
        labels=predicted,
    )


def test_fitted_thresholds_keep_familiar_streams_quiet_and_catch_a_shifted_one() -> None:
    rng = np.random.default_rng(1)
    reference = _reference(rng)

    config, familiarity = fit_monitor(reference, classes=3, targets=MonitorTargets(window=16))

    assert 0.2 < config.alarm_below < config.clear_above < 0.5
    familiar, shifted = _reference(rng, 4000), _reference(rng, 400)
    shifted = replace(shifted, distance=shifted.distance * 1.6, confidence=shifted.confidence * 0.9)

    def alarm_share(answers: ReferenceAnswers) -> float:
        window = SourceWindow(config)
        scores = familiarity.scores(answers.predicted, answers.distance, answers.confidence)
        return float(np.mean([window.observe(float(s)).alarm for s in scores]))

    assert alarm_share(familiar) < 0.01
    assert alarm_share(shifted) > 0.9


def test_a_monitor_survives_the_weights_file_and_both_gates_score_alike(tmp_path: Path) -> None:
    path = write_random_weights(tmp_path / "w.safetensors", gate=random_gate(monitor=HYSTERESIS))

    read = read_weights(path)
    loaded = load_weights(path)
    assert read.gate is not None and loaded.gate is not None
    assert read.gate.monitor == HYSTERESIS == loaded.gate.config.monitor
    serving = ServingGate(read.gate, read.gate_tensors, read.sha256)
    assert serving.familiarity is not None and loaded.gate.familiarity is not None
    assert serving.familiarity.score(1, 1.7, 0.8) == loaded.gate.familiarity.score(1, 1.7, 0.8)


def test_a_file_without_a_monitor_still_loads(tmp_path: Path) -> None:
    path = write_random_weights(tmp_path / "w.safetensors", gate=random_gate(monitor=None))

    read = read_weights(path)

    assert read.gate is not None and read.gate.monitor is None
    assert ServingGate(read.gate, read.gate_tensors, read.sha256).familiarity is None


@pytest.mark.parametrize("drop", ["tensors", "config"])
def test_a_monitor_missing_half_of_itself_is_a_weights_error(tmp_path: Path, drop: str) -> None:
    path = write_random_weights(tmp_path / "w.safetensors", gate=random_gate(monitor=CALM))
    tensors, header = load_file(str(path)), read_header(path)
    if drop == "tensors":
        tensors = {k: v for k, v in tensors.items() if ".class2." not in k}
    else:
        header["gate"] = header["gate"].replace('"monitor": {', '"monitor": null, "was": {')
    save_file(tensors, str(path), metadata=header)

    with pytest.raises(WeightsError, match="monitor"):
        read_weights(path)


def test_an_alarmed_test_monitor_fires_on_the_fourth_answer() -> None:
    window = SourceWindow(ALARMED)

    assert [window.observe(0.5).alarm for _ in range(5)] == [False, False, False, True, True]


def test_with_monitor_adds_a_fitted_monitor_to_the_gate_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = load_weights(write_random_weights(tmp_path / "w.safetensors", gate=random_gate(monitor=None)))
    reference = _reference(np.random.default_rng(2))
    monkeypatch.setattr(monitor_fit, "split_sides", lambda data, split: ([], ([], [])))
    monkeypatch.setattr(monitor_fit, "reference_answers", lambda weights, samples: reference)

    gate = monitor_fit.with_monitor(weights, tmp_path, None)

    assert weights.gate is not None and gate.config.monitor is not None and gate.familiarity is not None
    assert gate.config.thresholds == weights.gate.config.thresholds and gate.scope is weights.gate.scope
    assert gate.config.monitor.fitted["reference_answers"] == int(reference.in_scope.sum())


def test_fewer_reference_answers_than_a_window_fit_no_monitor() -> None:
    answers = _reference(np.random.default_rng(3), n=15)

    with pytest.raises(monitor_fit.TooFewReferenceAnswersError, match="fewer than one window of 16"):
        fit_monitor(replace(answers, in_scope=np.ones(15, dtype=bool)), classes=3)
