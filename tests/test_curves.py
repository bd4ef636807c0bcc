import csv
import io
import warnings

import numpy as np
import pytest

from mnistflow.evaluation import curves

# The same 3-class, 8-image example as test_metrics.py.
LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2])
PROBABILITIES = np.array([
    [0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1],
    [0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.4, 0.3, 0.3], [0.3, 0.4, 0.3],
])


def test_confusion_rows_are_one_sorted_pair_per_image():
    rows = curves.confusion_rows(np.array([2, 0, 1, 0]), np.array([1, 0, 1, 2]))
    assert rows.tolist() == [[0, 0], [0, 2], [1, 1], [2, 1]]
    assert curves.confusion_csv(rows) == "actual,predicted\n0,0\n0,2\n1,1\n2,1\n"


def test_grid_starts_at_zero_is_dense_near_zero_and_ends_at_one():
    values = curves.grid(5)
    assert values.tolist() == pytest.approx([0.0, 1e-4, 10 ** (-8 / 3), 10 ** (-4 / 3), 1.0])
    assert values[0] == 0.0 and values[-1] == 1.0 and np.all(np.diff(values) > 0)


def test_grid_rejects_fewer_than_three_points():
    with pytest.raises(ValueError, match=r"a curve needs at least 3 points; got 2"):
        curves.grid(2)


def test_roc_curves_give_the_best_true_positive_rate_at_each_false_positive_rate():
    roc = curves.roc_curves(LABELS, PROBABILITIES, points=5)
    # class 0: negatives score at most .5; above that, 2 of 3 positives (.8, .6); all 3 at fpr 1
    assert roc["digit_0"].tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2 / 3, 1.0])
    # class 2: both positives (.3) score above every negative (at most .2)
    assert roc["digit_2"].tolist() == [1.0] * 5
    assert list(roc) == ["fpr", "digit_0", "digit_1", "digit_2"]


def test_precision_recall_curves_give_interpolated_precision_on_the_recall_grid():
    pr = curves.precision_recall_curves(LABELS, PROBABILITIES, points=5)
    assert pr["recall"][0] == 0.0 and pr["recall"][-1] == 1.0
    # class 1 at recall 1 needs threshold .3: 3 positives and 4 negatives (.3 .4 .3 .4) -> 3/7
    assert pr["digit_1"][-1] == pytest.approx(3 / 7)
    # class 0 at recall 1 needs threshold .5: 3 positives and 1 negative (.5) -> 3/4
    assert pr["digit_0"][-1] == pytest.approx(3 / 4)
    assert np.all(np.diff(pr["digit_1"]) <= 0)  # interpolated precision never rises with recall


def test_curves_leave_a_class_absent_from_the_labels_empty_without_warning():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.05, 0.05], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        roc = curves.roc_curves(labels, probabilities, points=4)
        pr = curves.precision_recall_curves(labels, probabilities, points=4)
    assert np.isnan(roc["digit_2"]).all() and np.isnan(pr["digit_2"]).all()
    assert curves.to_csv(roc).splitlines()[1] == "0,1,1,"


def test_to_csv_writes_a_header_and_six_significant_digits_that_csv_readers_parse():
    text = curves.to_csv({"fpr": np.array([0.0, 1 / 3]), "digit_0": np.array([0.5, 2 / 3])})
    assert text == "fpr,digit_0\n0,0.5\n0.333333,0.666667\n"
    assert list(csv.DictReader(io.StringIO(text)))[1] == {"fpr": "0.333333", "digit_0": "0.666667"}


def test_to_csv_rejects_columns_of_different_lengths():
    with pytest.raises(ValueError, match=r"same length; got lengths \[1, 2\]"):
        curves.to_csv({"a": np.zeros(1), "b": np.zeros(2)})


def test_curves_have_the_requested_number_of_points_however_many_images():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 5000)
    probabilities = rng.dirichlet(np.ones(10), 5000)
    assert len(curves.to_csv(curves.roc_curves(labels, probabilities, points=200)).splitlines()) == 201
    assert len(curves.to_csv(curves.precision_recall_curves(labels, probabilities, points=200)).splitlines()) == 201
