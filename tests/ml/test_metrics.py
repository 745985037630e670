import numpy as np
import pytest

from ml.evaluation.metrics import (
    classification_report,
    expected_calibration_error,
    fit_temperature,
    roc_auc,
    softmax,
)

CLASSES = ["COVID", "Normal", "Viral Pneumonia"]


def test_report_matches_a_hand_computed_case() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 0, 1, 1, 1, 0])
    logits = np.eye(3)[preds] * 5.0
    report = classification_report(logits, labels, CLASSES)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    covid = report["per_class"]["COVID"]
    assert covid["precision"] == pytest.approx(2 / 3)
    assert covid["recall"] == pytest.approx(2 / 3)
    assert covid["f1"] == pytest.approx(2 / 3)
    assert covid["support"] == 3
    assert report["per_class"]["Normal"]["precision"] == pytest.approx(2 / 3)
    assert report["per_class"]["Normal"]["recall"] == 1.0
    assert report["per_class"]["Viral Pneumonia"]["f1"] == 0.0


def test_roc_auc_counts_ties_half_and_is_none_without_negatives() -> None:
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)
    assert roc_auc(np.array([0.5, 0.6]), np.array([1, 1])) is None


def test_ece_is_zero_when_confidence_equals_accuracy() -> None:
    probs = np.array([[0.75, 0.25, 0.0]] * 4)
    labels = np.array([0, 0, 0, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)
    assert expected_calibration_error(probs, np.array([1, 1, 1, 1])) == pytest.approx(0.75)


def test_temperature_fit_recovers_the_temperature_that_generated_the_labels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, 3))
    true_t = 2.0
    probs = softmax(logits, true_t)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.1)
