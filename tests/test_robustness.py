"""The robustness summary, its chart data, and the corrupt/ood params' checks."""
from __future__ import annotations

import numpy as np
import pytest

from mnistflow.core import arrays, params
from mnistflow.data import suites
from mnistflow.evaluation import robustness


def test_summarise_gives_mean_and_worst_corruption():
    result = robustness.summarise(clean_accuracy=0.99, accuracy={"fog": 0.9, "zigzag": 0.8, "rotate": 0.97})
    assert result["mean_corrupted_accuracy"] == pytest.approx(0.89)
    assert (result["worst_corruption"], result["worst_accuracy"]) == ("zigzag", 0.8)
    assert robustness.accuracy_csv(result) == "corruption,accuracy\nclean,0.9900\nfog,0.9000\nzigzag,0.8000\nrotate,0.9700\n"


def test_summarise_needs_a_corruption():
    with pytest.raises(ValueError, match="at least one corruption"):
        robustness.summarise(clean_accuracy=1.0, accuracy={})


def test_accuracy_counts_matches():
    assert robustness.accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75


@pytest.mark.parametrize(("section", "value", "message"), [
    ({"corruptions": ["fog", "smudge"]}, None, r"corrupt.corruptions must be a list of names from: .*\('smudge' is not one\); got \['fog', 'smudge'\]"),
    ({"corruptions": []}, None, r"corrupt.corruptions must be a non-empty list .*; got \[\]"),
    ({"corruptions": ["fog", "fog"]}, None, r"corrupt.corruptions must be a list without repeats"),
])
def test_corrupt_params_reject_a_bad_suite_naming_the_key(section, value, message):
    with pytest.raises(ValueError, match=message):
        params.parse(suites.CorruptParams, section, key="corrupt")


def test_ood_params_reject_bad_sizes_and_kinds():
    with pytest.raises(ValueError, match=r"ood.per_kind must be in \[1, 100000\]; got 0"):
        params.parse(suites.OodParams, {"per_kind": 0}, key="ood")
    with pytest.raises(ValueError, match=r"ood.kinds must be a list of names from: .*\('digits' is not one\)"):
        params.parse(suites.OodParams, {"kinds": ["digits"]}, key="ood")


def test_split_seeds_differ_between_val_and_test_and_repeat_for_a_seed():
    assert suites.split_seed(42, "val") != suites.split_seed(42, "test")
    assert suites.split_seed(42, "val") == suites.split_seed(42, "val")
    with pytest.raises(ValueError, match="split must be one of val, test; got 'train'"):
        suites.split_seed(42, "train")


def test_a_suite_round_trips_and_checks_every_variant(tmp_path):
    labels = np.array([1, 2], np.uint8)
    suite = {"fog": np.zeros((2, 28, 28), np.uint8), "zigzag": np.full((2, 28, 28), 7, np.uint8)}
    arrays.save_suite(tmp_path / "suite.npz", suite, labels)
    loaded, loaded_labels = arrays.load_suite(tmp_path / "suite.npz")
    assert list(loaded) == ["fog", "zigzag"] and (loaded["zigzag"] == 7).all() and (loaded_labels == labels).all()
    with pytest.raises(ValueError, match=r"bad.npz \[fog\]: images must be uint8"):
        arrays.save_suite(tmp_path / "bad.npz", {"fog": np.zeros((2, 28, 28), np.float32)}, labels)
