import math
import warnings

import numpy as np
import pytest

from mnistflow.evaluation import metrics

# 3 classes, 8 images. Predictions (argmax): 0 0 0 1 1 0 0 1 -> class 2 is never predicted.
LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2])
PROBABILITIES = np.array([
    [0.8, 0.1, 0.1],
    [0.6, 0.3, 0.1],
    [0.5, 0.4, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.8, 0.1],
    [0.5, 0.3, 0.2],  # a 1 taken for a 0
    [0.4, 0.3, 0.3],  # a 2 taken for a 0
    [0.3, 0.4, 0.3],  # a 2 taken for a 1
])
# Worked out by hand:
# class 0: predicted 5 times, 3 right -> precision 3/5, recall 3/3, F1 = 2*3/(2*3+2+0) = 3/4
# class 1: predicted 3 times, 2 right -> precision 2/3, recall 2/3, F1 = 2*2/(2*2+1+1) = 2/3
# class 2: never predicted -> precision 0 (zero_division=0), recall 0/2, F1 0
# macro F1 = (3/4 + 2/3 + 0)/3 = 17/36; weighted F1 = (3*3/4 + 3*2/3 + 2*0)/8 = 17/32
# ROC AUC, counting positive-negative pairs ranked right (a tie counts 1/2):
#   class 0: positives .8 .6 .5 vs negatives .2 .1 .5 .4 .3 -> (5 + 5 + 4.5)/15 = 29/30
#   class 1: positives .7 .8 .3 vs negatives .1 .3 .4 .3 .4 -> (5 + 5 + 1 + 2*0.5)/15 = 4/5
#   class 2: positives .3 .3 vs negatives .1 .1 .1 .1 .1 .2 -> 12/12 = 1
# log loss = -mean(log of the true class's probability): .8 .6 .5 .7 .8 .3 .3 .3


def test_classification_metrics_match_the_hand_worked_example():
    summary = metrics.classification_metrics(LABELS, PROBABILITIES)
    expected_log_loss = -sum(math.log(p) for p in [0.8, 0.6, 0.5, 0.7, 0.8, 0.3, 0.3, 0.3]) / 8
    assert summary["samples"] == 8 and summary["errors"] == 3
    assert summary["accuracy"] == 0.625
    assert summary["f1_macro"] == pytest.approx(17 / 36, abs=1e-6)
    assert summary["f1_weighted"] == pytest.approx(17 / 32, abs=1e-6)
    assert summary["log_loss"] == pytest.approx(expected_log_loss, abs=1e-6)
    assert summary["roc_auc_macro"] == pytest.approx((29 / 30 + 4 / 5 + 1) / 3, abs=1e-6)
    expected = {
        "0": (3 / 5, 1.0, 3 / 4, 29 / 30, 3),
        "1": (2 / 3, 2 / 3, 2 / 3, 4 / 5, 3),
        "2": (0.0, 0.0, 0.0, 1.0, 2),
    }
    for digit, (precision, recall, f1, auc, support) in expected.items():
        got = summary["per_digit"][digit]
        assert got["precision"] == pytest.approx(precision, abs=1e-6)
        assert got["recall"] == pytest.approx(recall, abs=1e-6)
        assert got["f1"] == pytest.approx(f1, abs=1e-6)
        assert got["roc_auc"] == pytest.approx(auc, abs=1e-6)
        assert got["support"] == support


def test_classification_metrics_emit_no_warning_for_a_never_predicted_class():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics.classification_metrics(LABELS, PROBABILITIES)
        metrics.classification_report_text(LABELS, PROBABILITIES)


def test_classification_metrics_round_floats_to_six_decimals():
    summary = metrics.classification_metrics(LABELS, PROBABILITIES)
    assert summary["f1_macro"] == 0.472222 and summary["per_digit"]["1"]["precision"] == 0.666667


def test_classification_metrics_give_null_auc_for_a_class_absent_from_the_labels():
    labels = np.array([0, 0, 1, 1])  # class 2 never occurs
    probabilities = np.array([[0.9, 0.05, 0.05], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = metrics.classification_metrics(labels, probabilities)
    absent = summary["per_digit"]["2"]
    assert absent == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "roc_auc": None, "support": 0}
    # class 0: positives .9 .4 vs negatives .2 .3 -> 1; class 1: positives .7 .6 vs .05 .5 -> 1
    assert summary["roc_auc_macro"] == 1.0


def test_classification_metrics_give_null_macro_auc_when_only_one_class_occurs():
    summary = metrics.classification_metrics(np.array([1, 1]), np.array([[0.2, 0.8], [0.6, 0.4]]))
    assert summary["roc_auc_macro"] is None and summary["per_digit"]["0"]["roc_auc"] is None


def test_classification_metrics_are_identical_for_float32_and_float64_probabilities():
    as_float32 = metrics.classification_metrics(LABELS, PROBABILITIES.astype(np.float32))
    as_float64 = metrics.classification_metrics(LABELS, PROBABILITIES)
    assert as_float32["per_digit"] == as_float64["per_digit"] and as_float32["accuracy"] == as_float64["accuracy"]


def test_classification_report_text_lists_every_class_with_a_title():
    text = metrics.classification_report_text(LABELS, PROBABILITIES, title="test set")
    assert text.startswith("test set\n\n")
    assert "           2     0.0000    0.0000    0.0000         2" in text
    assert "    accuracy                         0.6250         8" in text


def test_classification_metrics_reject_a_label_without_a_probability_column():
    with pytest.raises(ValueError, match=r"labels must be classes 0-2 \(one per probability column\); found 7"):
        metrics.classification_metrics(np.array([0, 7]), np.full((2, 3), 1 / 3))


def test_classification_metrics_reject_labels_that_do_not_match_the_rows():
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\), one per row of probabilities; got \(3,\)"):
        metrics.classification_metrics(np.array([0, 1, 1]), np.full((2, 3), 1 / 3))


def test_classification_metrics_reject_empty_probabilities():
    with pytest.raises(ValueError, match=r"probabilities must be a non-empty \(N, K\) array; got shape \(0, 3\)"):
        metrics.classification_metrics(np.array([], np.int64), np.zeros((0, 3)))
