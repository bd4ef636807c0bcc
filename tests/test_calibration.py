"""Calibration maths: ECE, Brier and log loss by hand; temperature scaling recovers a known
temperature; the unsure threshold; the evaluate stage's calibration and not-a-digit figures."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mnistflow.core import calibration
from mnistflow.evaluation import evaluate

# Four images, two classes. Confidences 0.9, 0.6, 0.8, 0.7; the third is wrong.
LABELS = np.array([0, 1, 1, 0])
PROBABILITIES = np.array([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2], [0.7, 0.3]])


def test_ece_by_hand_with_two_bins():
    # bin (0, 0.5]: empty. bin (0.5, 1]: all four, accuracy 3/4, mean confidence 0.75 -> ECE 0.
    assert calibration.expected_calibration_error(LABELS, PROBABILITIES, bins=2) == pytest.approx(0.0)
    # Ten bins: (0.5,0.6] {0.6 right}, (0.6,0.7] {0.7 right}, (0.7,0.8] {0.8 wrong}, (0.8,0.9] {0.9 right}
    # |1-0.6| + |1-0.7| + |0-0.8| + |1-0.9| = 0.4 + 0.3 + 0.8 + 0.1 = 1.6, over 4 images = 0.4
    assert calibration.expected_calibration_error(LABELS, PROBABILITIES, bins=10) == pytest.approx(0.4)


def test_brier_and_log_loss_by_hand():
    # squared errors per image: 2*0.1^2, 2*0.4^2, 2*0.8^2, 2*0.3^2 -> 0.02, 0.32, 1.28, 0.18; mean 0.45
    assert calibration.brier_score(LABELS, PROBABILITIES) == pytest.approx(0.45)
    expected = -(math.log(0.9) + math.log(0.6) + math.log(0.2) + math.log(0.7)) / 4
    assert calibration.log_loss(LABELS, PROBABILITIES) == pytest.approx(expected)


def test_log_loss_renormalises_float32_rows_and_clips_zero_probabilities():
    probabilities = np.array([[0.5, 0.5], [1.0, 0.0]], dtype=np.float32) * np.float32(1.0000001)
    loss = calibration.log_loss(np.array([0, 1]), probabilities.astype(np.float64))
    assert loss == pytest.approx((math.log(2) - math.log(1e-12)) / 2)


def test_temperature_scaling_recovers_the_temperature_that_made_the_probabilities():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, 10))
    labels = np.array([rng.choice(10, p=np.exp(row) / np.exp(row).sum()) for row in logits])  # calibrated at T=1
    overconfident = calibration.scale(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 1 / 2.5)  # logits x 2.5
    assert calibration.fit_temperature(overconfident, labels) == pytest.approx(2.5, rel=0.1)
    fixed = calibration.scale(overconfident, calibration.fit_temperature(overconfident, labels))
    assert calibration.expected_calibration_error(labels, fixed) < calibration.expected_calibration_error(labels, overconfident) / 3


def test_scale_by_one_changes_nothing_and_keeps_the_ranking():
    assert np.allclose(calibration.scale(PROBABILITIES, 1.0), PROBABILITIES)
    softened = calibration.scale(PROBABILITIES, 3.0)
    assert (softened.argmax(1) == PROBABILITIES.argmax(1)).all()
    assert (softened.max(1) < PROBABILITIES.max(1)).all()


def test_unsure_threshold_sets_aside_the_given_share_of_validation_images():
    probabilities = np.stack([np.linspace(0.5, 1.0, 101), 1 - np.linspace(0.5, 1.0, 101)], axis=1)
    threshold = calibration.unsure_threshold(probabilities, rate=0.1)
    assert threshold == pytest.approx(0.55)
    assert (probabilities.max(1) < threshold).mean() == pytest.approx(0.1, abs=0.01)
    assert calibration.unsure_threshold(probabilities, rate=0) == 0.0


def test_calibration_rejects_bad_input_with_the_rule():
    with pytest.raises(ValueError, match=r"temperature must be positive; got 0"):
        calibration.scale(PROBABILITIES, 0)
    with pytest.raises(ValueError, match=r"unsure rate must be in \[0, 1\); got 1.5"):
        calibration.unsure_threshold(PROBABILITIES, rate=1.5)
    with pytest.raises(ValueError, match=r"probabilities must be \(N, classes\) and labels \(N,\)"):
        calibration.brier_score(LABELS[:3], PROBABILITIES)


def test_reliability_rows_count_every_image_once():
    rows = calibration.reliability(LABELS, PROBABILITIES, bins=5)
    assert [row["images"] for row in rows] == [0, 0, 1, 2, 1]  # 0.6 | 0.7, 0.8 | 0.9
    assert rows[3]["accuracy"] == pytest.approx(0.5) and rows[3]["confidence"] == pytest.approx(0.75)


def test_ood_auroc_on_a_tiny_example():
    digits = np.array([[0.95, 0.05], [0.8, 0.2], [0.6, 0.4]])
    not_digits = np.array([[0.7, 0.3], [0.55, 0.45]])
    # pairs (digit, ood) ranked right: 0.95>both, 0.8>both, 0.6>0.55 but <0.7 -> 5 of 6
    result = evaluate.ood_metrics(digits, not_digits, threshold=0.65)
    assert result["auroc"] == pytest.approx(5 / 6, abs=1e-6)
    assert result["digits_unsure"] == pytest.approx(1 / 3, abs=1e-6)
    assert result["ood_unsure"] == pytest.approx(0.5)


def test_calibration_metrics_report_the_error_before_the_temperature_was_built_in():
    softened = calibration.scale(PROBABILITIES, 2.0)
    figures = evaluate.calibration_metrics(LABELS, softened, temperature=2.0)
    assert figures["temperature"] == 2.0
    assert figures["ece_before_scaling"] == pytest.approx(calibration.expected_calibration_error(LABELS, PROBABILITIES), abs=1e-6)
