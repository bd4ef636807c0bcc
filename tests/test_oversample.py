from __future__ import annotations

import numpy as np
import pytest

from mnistflow.core import arrays, params
from mnistflow.data.oversample import OversampleParams, oversample
from stage_scripts import load_stage  # tests/stage_scripts.py
from synthetic import make_digits


def noise_split(counts: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random-noise images (classes overlap, as borderline SMOTE and ADASYN need) with these counts per digit."""
    labels = np.repeat(np.arange(len(counts), dtype=np.uint8), counts)
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
    return images, labels


@pytest.mark.parametrize("method", ["random", "smote", "borderline_smote", "adasyn"])
def test_oversample_raises_every_digit_to_the_largest_count(method):
    images, labels = noise_split([12, 8, 5])
    new_images, new_labels = oversample(images, labels, method=method, sampling_strategy="auto", k_neighbors=3, seed=0)
    assert arrays.class_counts(new_labels).tolist() == [12, 12, 12, 0, 0, 0, 0, 0, 0, 0]
    assert new_images.dtype == np.uint8 and new_images.shape == (36, 28, 28)
    assert new_labels.dtype == np.uint8
    np.testing.assert_array_equal(new_images[:25], images)  # originals first, unchanged
    np.testing.assert_array_equal(new_labels[:25], labels)


def test_oversample_none_returns_the_split_unchanged():
    images, labels = noise_split([3, 1])
    new_images, new_labels = oversample(images, labels, method="none", sampling_strategy="auto", k_neighbors=5, seed=0)
    assert new_images is images and new_labels is labels


def test_oversample_random_copies_existing_images_only():
    images, labels = noise_split([4, 2])
    new_images, new_labels = oversample(images, labels, method="random", sampling_strategy="auto", k_neighbors=5, seed=0)
    originals = {image.tobytes() for image in images[labels == 1]}
    assert all(image.tobytes() in originals for image in new_images[6:])
    assert new_labels[6:].tolist() == [1, 1]


def test_oversample_smote_images_are_rounded_blends_between_two_neighbours():
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    images[3:] = 101  # digit 1: one black image and one flat 101: blends are flat images 0..101
    images[3] = 0
    labels = np.array([0, 0, 0, 1, 1], dtype=np.uint8)
    new_images, new_labels = oversample(images, labels, method="smote", sampling_strategy="auto", k_neighbors=1, seed=0)
    synthetic = new_images[5:].astype(int)
    assert new_labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert synthetic.min() >= 0 and synthetic.max() <= 101
    assert np.all(synthetic == synthetic.reshape(len(synthetic), -1)[:, :1, None])  # still flat: one rounded value


def test_oversample_honours_a_mapping_of_digit_to_count():
    images, labels = noise_split([6, 2, 3])
    _, new_labels = oversample(images, labels, method="random", sampling_strategy={1: 5}, k_neighbors=5, seed=0)
    assert arrays.class_counts(new_labels)[:3].tolist() == [6, 5, 3]


def test_oversample_is_reproducible_with_the_same_seed():
    images, labels = noise_split([9, 4])
    first = oversample(images, labels, method="smote", sampling_strategy="auto", k_neighbors=2, seed=7)
    second = oversample(images, labels, method="smote", sampling_strategy="auto", k_neighbors=2, seed=7)
    np.testing.assert_array_equal(first[0], second[0])


def test_oversample_rejects_k_neighbors_not_below_the_smallest_class():
    images, labels = noise_split([10, 4, 6])
    with pytest.raises(ValueError, match=r"^oversample\.k_neighbors must be smaller than the smallest class to "
                                         r"over-sample \(digit 1 has 4 images\); got 4$"):
        oversample(images, labels, method="smote", sampling_strategy="auto", k_neighbors=4, seed=0)


def test_oversample_rejects_an_unknown_method_naming_the_key():
    images, labels = noise_split([2, 1])
    with pytest.raises(ValueError, match=r"^oversample\.method must be one of none, random, smote, borderline_smote, adasyn; got 'tomek'$"):
        oversample(images, labels, method="tomek", sampling_strategy="auto", k_neighbors=1, seed=0)


def test_oversample_rejects_a_target_below_the_current_count():
    images, labels = noise_split([6, 2])
    with pytest.raises(ValueError, match=r"^oversample\.sampling_strategy\.0 must be at least the digit's current count 6 "):
        oversample(images, labels, method="random", sampling_strategy={0: 4}, k_neighbors=1, seed=0)


def test_oversample_adasyn_on_well_separated_digits_fails_with_one_line_advice():
    images, labels = make_digits(6, seed=3)
    keep = np.concatenate([np.flatnonzero(labels == 0)[:6], np.flatnonzero(labels == 1)[:3]])
    with pytest.raises(ValueError, match=r"^oversample\.method 'adasyn' cannot balance these images: .* Use 'smote' or 'random'$"):
        oversample(images[keep], labels[keep], method="adasyn", sampling_strategy="auto", k_neighbors=1, seed=0)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"method": "tomek"}, r"^oversample\.method must be one of 'none', 'random', 'smote', 'borderline_smote', 'adasyn'; got 'tomek'$"),
        ({"sampling_strategy": "majority"}, r"^oversample\.sampling_strategy must be one of 'auto', .* or a mapping digit -> count; got 'majority'$"),
        ({"sampling_strategy": {12: 5}}, r"^oversample\.sampling_strategy must be a mapping from digits 0-9 to positive image counts"),
        ({"k_neighbors": 0}, r"^oversample\.k_neighbors must be positive; got 0$"),
    ],
)
def test_oversample_params_reject_bad_values_naming_the_key(section, message):
    with pytest.raises(ValueError, match=message):
        params.parse(OversampleParams, section, key="oversample")


def test_oversample_params_accept_a_mapping_strategy():
    parsed = params.parse(OversampleParams, {"method": "smote", "sampling_strategy": {3: 100}}, key="oversample")
    assert parsed == OversampleParams(method="smote", sampling_strategy={3: 100}, k_neighbors=5)


def test_oversample_stage_writes_the_balanced_split_and_counts_before_and_after(tmp_path):
    from mnistflow.core import cli

    images, labels = noise_split([5, 3, 4])
    arrays.save_split(tmp_path / "train.npz", images, labels)
    (tmp_path / "params.yaml").write_text("seed: 1\noversample:\n  method: random\n")
    stage = load_stage("oversample")
    status = cli.run(stage.main, [
        "--params", str(tmp_path / "params.yaml"), "--train", str(tmp_path / "train.npz"),
        "--out", str(tmp_path / "balanced.npz"), "--counts", str(tmp_path / "counts.csv"), "--figure", str(tmp_path / "counts.png"),
    ])
    assert status == 0
    assert arrays.class_counts(arrays.load_split(tmp_path / "balanced.npz")[1])[:3].tolist() == [5, 5, 5]
    rows = (tmp_path / "counts.csv").read_text().splitlines()
    assert rows[:5] == ["digit,split,images", "0,before,5", "0,after,5", "1,before,3", "1,after,5"]
    assert len(rows) == 21
    assert (tmp_path / "counts.png").read_bytes()[:4] == b"\x89PNG"


def test_oversample_stage_reports_a_missing_prepared_split_on_one_line(tmp_path, capsys):
    from mnistflow.core import cli

    (tmp_path / "params.yaml").write_text("seed: 1\noversample: {}\n")
    stage = load_stage("oversample")
    status = cli.run(stage.main, [
        "--params", str(tmp_path / "params.yaml"), "--train", str(tmp_path / "prepared" / "train.npz"),
        "--out", str(tmp_path / "b.npz"), "--counts", str(tmp_path / "c.csv"), "--figure", str(tmp_path / "c.png"),
    ])
    assert status == 1
    assert capsys.readouterr().err == f"error: {tmp_path / 'prepared' / 'train.npz'}: no such file; run the stage that writes it (dvc repro)\n"
    assert not (tmp_path / "b.npz").exists()
