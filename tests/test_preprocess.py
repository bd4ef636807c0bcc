import numpy as np
import pytest

from mnistflow.core import params
from mnistflow.data import preprocess


def parse(mapping):
    return params.parse(preprocess.PreprocessParams, mapping, key="preprocess")


def labels_of(counts):
    """Labels sorted by digit: counts[d] copies of digit d."""
    return np.repeat(np.arange(len(counts), dtype=np.uint8), counts)


# --- params ---------------------------------------------------------------------------------------


def test_preprocess_params_defaults_keep_everything():
    assert parse({}) == preprocess.PreprocessParams(val_fraction=0.1, subset=None, class_fraction={})


def test_preprocess_params_accept_class_fraction_keys_written_as_strings():
    assert parse({"class_fraction": {"5": 0.1, 8: 1}}).class_fraction == {5: 0.1, 8: 1.0}


def test_preprocess_params_read_null_class_fraction_as_none_kept():
    assert parse({"class_fraction": None}).class_fraction == {}


@pytest.mark.parametrize("subset", [0.1, 1, 500])
def test_preprocess_params_accept_a_fraction_or_a_count_per_digit_as_subset(subset):
    assert parse({"subset": subset}).subset == subset


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"val_fraktion": 0.2}, r"^preprocess\.val_fraktion is not a known parameter; expected one of: val_fraction, subset, class_fraction$"),
        ({"val_fraction": 0}, r"^preprocess\.val_fraction must be in \(0, 1\); got 0$"),
        ({"val_fraction": 1}, r"^preprocess\.val_fraction must be in \(0, 1\); got 1$"),
        ({"val_fraction": -0.5}, r"^preprocess\.val_fraction must be in \(0, 1\); got -0\.5$"),
        ({"class_fraction": {11: 0.5}}, r"^preprocess\.class_fraction has digit 11; allowed digits are 0-9$"),
        ({"class_fraction": {"five": 0.5}}, r"^preprocess\.class_fraction has digit 'five'; allowed digits are 0-9$"),
        ({"class_fraction": {5: 0}}, r"^preprocess\.class_fraction\.5 must be in \(0, 1\]; got 0\.0$"),
        ({"class_fraction": {5: 1.5}}, r"^preprocess\.class_fraction\.5 must be in \(0, 1\]; got 1\.5$"),
        ({"class_fraction": [5, 8]}, r"^preprocess\.class_fraction must be a mapping; got \[5, 8\]$"),
        ({"subset": 0}, r"^preprocess\.subset must be a fraction in \(0, 1\] or a whole number of images per digit above 1; got 0$"),
        ({"subset": 2.5}, r"^preprocess\.subset must be a fraction in \(0, 1\] or a whole number .*; got 2\.5$"),
        ({"subset": "all"}, r"^preprocess\.subset must be a number; got 'all'$"),
    ],
)
def test_preprocess_params_reject_bad_values_naming_the_key(mapping, message):
    with pytest.raises(ValueError, match=message):
        parse(mapping)


# --- subset ---------------------------------------------------------------------------------------


def test_subset_indices_keep_everything_when_subset_is_none_or_one():
    labels = labels_of([3, 2])
    assert preprocess.subset_indices(labels, subset=None, seed=0).tolist() == [0, 1, 2, 3, 4]
    assert preprocess.subset_indices(labels, subset=1.0, seed=0).tolist() == [0, 1, 2, 3, 4]


def test_subset_indices_keep_a_rounded_fraction_of_each_digit():
    labels = labels_of([10, 5, 3])  # 0.5 of each: 5, 2.5 -> 3 (halves up), 1.5 -> 2
    kept = preprocess.subset_indices(labels, subset=0.5, seed=0)
    assert np.bincount(labels[kept]).tolist() == [5, 3, 2]
    assert kept.tolist() == sorted(kept.tolist()) and len(set(kept.tolist())) == 10


def test_subset_indices_keep_at_least_one_of_each_digit():
    labels = labels_of([20, 2])
    assert np.bincount(labels[preprocess.subset_indices(labels, subset=0.1, seed=0)]).tolist() == [2, 1]


def test_subset_indices_keep_a_count_per_digit():
    labels = labels_of([6, 4, 5])
    assert np.bincount(labels[preprocess.subset_indices(labels, subset=4, seed=3)]).tolist() == [4, 4, 4]


def test_subset_indices_reject_a_count_above_the_smallest_digit():
    with pytest.raises(ValueError, match=r"preprocess\.subset asks for 5 images per digit but digit 1 has only 4; use at most 4"):
        preprocess.subset_indices(labels_of([6, 4, 5]), subset=5, seed=0)


def test_subset_indices_are_deterministic_for_a_seed_and_differ_across_seeds():
    labels = labels_of([50, 50])
    first = preprocess.subset_indices(labels, subset=0.5, seed=7)
    assert first.tolist() == preprocess.subset_indices(labels, subset=0.5, seed=7).tolist()
    assert first.tolist() != preprocess.subset_indices(labels, subset=0.5, seed=8).tolist()


# --- split ----------------------------------------------------------------------------------------


def test_split_indices_stratify_by_digit_with_ceil_of_the_fraction_for_validation():
    labels = labels_of([10, 10, 20])
    train, val = preprocess.split_indices(labels, val_fraction=0.2, seed=0)
    assert np.bincount(labels[val]).tolist() == [2, 2, 4]
    assert np.bincount(labels[train]).tolist() == [8, 8, 16]
    assert sorted(train.tolist() + val.tolist()) == list(range(40))


def test_split_indices_give_leftover_validation_rows_to_the_largest_remainders():
    labels = labels_of([3, 3, 6])  # 6 of 12 for validation: shares 1.5, 1.5, 3.0 -> 1, 1, 3 and one left over
    train, val = preprocess.split_indices(labels, val_fraction=0.5, seed=0)
    val_counts = np.bincount(labels[val]).tolist()
    assert val_counts[2] == 3 and sorted(val_counts[:2]) == [1, 2]
    assert np.bincount(labels[train]).tolist() == [3 - val_counts[0], 3 - val_counts[1], 3]


def test_split_indices_are_deterministic_for_a_seed():
    labels = labels_of([10, 10])
    first = preprocess.split_indices(labels, val_fraction=0.3, seed=5)
    again = preprocess.split_indices(labels, val_fraction=0.3, seed=5)
    other = preprocess.split_indices(labels, val_fraction=0.3, seed=6)
    assert [a.tolist() for a in first] == [a.tolist() for a in again]
    assert first[1].tolist() != other[1].tolist()


def test_split_indices_reject_a_digit_with_a_single_image():
    with pytest.raises(ValueError, match=r"at least 2 images of each digit; digit 1 has 1 \(use a larger preprocess\.subset"):
        preprocess.split_indices(labels_of([10, 1, 10]), val_fraction=0.5, seed=0)


def test_split_indices_reject_a_validation_share_too_small_for_one_image_per_digit():
    with pytest.raises(ValueError, match=r"preprocess\.val_fraction=0\.1 of 20 images gives 2 for validation and 18 for training; .* \(3 digits\)"):
        preprocess.split_indices(labels_of([10, 5, 5]), val_fraction=0.1, seed=0)


# --- class_fraction -------------------------------------------------------------------------------


def test_class_fraction_indices_keep_a_rounded_share_of_listed_digits_only():
    labels = labels_of([10, 10, 7])
    kept = preprocess.class_fraction_indices(labels, class_fraction={1: 0.3, 2: 0.5}, seed=0)
    assert np.bincount(labels[kept]).tolist() == [10, 3, 4]  # 7 * 0.5 = 3.5 -> 4
    assert kept.tolist() == sorted(kept.tolist())


def test_class_fraction_indices_keep_at_least_one_and_ignore_absent_digits():
    labels = labels_of([10, 3])
    kept = preprocess.class_fraction_indices(labels, class_fraction={1: 0.1, 7: 0.5}, seed=0)
    assert np.bincount(labels[kept]).tolist() == [10, 1]


def test_class_fraction_indices_are_deterministic_for_a_seed():
    labels = labels_of([40, 40])
    first = preprocess.class_fraction_indices(labels, class_fraction={0: 0.25}, seed=1)
    assert first.tolist() == preprocess.class_fraction_indices(labels, class_fraction={0: 0.25}, seed=1).tolist()
    assert first.tolist() != preprocess.class_fraction_indices(labels, class_fraction={0: 0.25}, seed=2).tolist()


# --- prepare --------------------------------------------------------------------------------------


def test_prepare_subsets_then_splits_then_unbalances_the_train_split_only():
    labels = labels_of([40, 40, 40])
    images = np.broadcast_to(np.arange(120, dtype=np.uint8)[:, None, None], (120, 28, 28)).copy()
    settings = parse({"val_fraction": 0.25, "subset": 20, "class_fraction": {2: 0.2}})
    splits = preprocess.prepare(images, labels, settings, seed=0)
    train_images, train_labels = splits["train"]
    val_images, val_labels = splits["val"]
    assert np.bincount(val_labels).tolist() == [5, 5, 5]
    assert np.bincount(train_labels).tolist() == [15, 15, 3]
    # each image travels with its label, and no image is in both splits
    assert (train_labels == train_images[:, 0, 0] // 40).all() and (val_labels == val_images[:, 0, 0] // 40).all()
    assert not set(train_images[:, 0, 0].tolist()) & set(val_images[:, 0, 0].tolist())


def test_prepare_gives_identical_splits_for_the_same_seed():
    labels = labels_of([30, 30])
    images = np.arange(60 * 784, dtype=np.uint32).astype(np.uint8).reshape(60, 28, 28)
    settings = parse({"val_fraction": 0.2, "subset": 0.5, "class_fraction": {1: 0.5}})
    first = preprocess.prepare(images, labels, settings, seed=4)
    again = preprocess.prepare(images, labels, settings, seed=4)
    for split in ("train", "val"):
        np.testing.assert_array_equal(first[split][0], again[split][0])
        np.testing.assert_array_equal(first[split][1], again[split][1])


def test_counts_csv_lists_every_digit_with_its_count():
    assert preprocess.counts_csv(np.array([1, 1, 9], np.uint8)).splitlines() == [
        "digit,count", "0,0", "1,2", "2,0", "3,0", "4,0", "5,0", "6,0", "7,0", "8,0", "9,1",
    ]


def test_sample_indices_interleave_digits_so_each_grid_column_is_one_digit():
    labels = np.array([1, 0, 1, 0, 0, 1], np.uint8)
    assert preprocess.sample_indices(labels, per_digit=2).tolist() == [1, 0, 3, 2]
