"""Source `local`, the shared checks (`fetch.data`) and writing both CSVs (`fetch.run`)."""
from __future__ import annotations

import numpy as np
import pytest

from mnistflow.core import mnist_csv
from mnistflow.fetch import canonical, config, data, local, run

IMAGES = np.arange(3 * 784, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
LABELS = np.array([7, 2, 1], dtype=np.uint8)


def write_layout(path, layout, images, labels):
    header = ",".join(mnist_csv.HEADERS[layout])
    rows = [",".join(str(v) for v in [label, *image.ravel()]) for image, label in zip(images, labels)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("layout", ["rowcol", "pixel"])
def test_local_load_reads_either_kaggle_layout(tmp_path, layout):
    train = write_layout(tmp_path / "train.csv", layout, IMAGES, LABELS)
    test = write_layout(tmp_path / "test.csv", layout, IMAGES[:1], LABELS[:1])

    loaded = local.load(train, test)

    np.testing.assert_array_equal(loaded.train_images, IMAGES)
    np.testing.assert_array_equal(loaded.train_labels, LABELS)
    np.testing.assert_array_equal(loaded.test_labels, [7])


def test_local_load_reports_a_label_out_of_range_with_file_and_line(tmp_path):
    train = write_layout(tmp_path / "train.csv", "pixel", IMAGES, np.array([7, 10, 1]))
    test = write_layout(tmp_path / "test.csv", "rowcol", IMAGES, LABELS)
    with pytest.raises(ValueError, match=r"train\.csv: line 3, column 1 \(label\) is 10; expected a label, an integer 0-9"):
        local.load(train, test)


def local_params(train, test, canonical_check="auto"):
    return config.FetchParams(source="local", canonical=canonical_check, local=config.LocalParams(str(train), str(test)))


def test_run_load_takes_a_small_local_data_set_as_is_in_auto_mode(tmp_path):
    train = write_layout(tmp_path / "train.csv", "rowcol", IMAGES, LABELS)
    loaded = run.load(local_params(train, train))
    assert loaded.train_labels.tolist() == [7, 2, 1]


def test_run_load_rejects_a_small_local_data_set_when_canonical_is_required(tmp_path):
    train = write_layout(tmp_path / "train.csv", "rowcol", IMAGES, LABELS)
    with pytest.raises(ValueError, match=r"got 3 train \+ 3 test images; expected the full 60000 \+ 10000 \(set fetch\.canonical: skip"):
        run.load(local_params(train, train, "require"))


def test_expects_canonical_for_remote_sources_always_and_local_at_full_size():
    small = data.MnistData(IMAGES, LABELS, IMAGES, LABELS)
    full = data.MnistData(*(np.zeros((n,), np.uint8) for n in (canonical.TRAIN_ROWS,) * 2 + (canonical.TEST_ROWS,) * 2))
    assert run.expects_canonical(config.FetchParams(source="url"), small) is True
    assert run.expects_canonical(config.FetchParams(source="url", canonical="skip"), small) is False
    assert run.expects_canonical(local_params("a", "b"), small) is False
    assert run.expects_canonical(local_params("a", "b"), full) is True


def test_validate_rejects_full_size_arrays_that_are_not_the_canonical_mnist():
    zeros = data.MnistData(
        np.zeros((canonical.TRAIN_ROWS, 28, 28), np.uint8), np.zeros(canonical.TRAIN_ROWS, np.uint8),
        np.zeros((canonical.TEST_ROWS, 28, 28), np.uint8), np.zeros(canonical.TEST_ROWS, np.uint8),
    )
    with pytest.raises(ValueError, match=r"^here: decoded train images uint8\[60000, 28, 28\] have SHA-256 [0-9a-f]{64}; expected the canonical 741c98"):
        data.validate(zeros, source="here", expect_canonical=True)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (data.MnistData(IMAGES, np.array([7, 12, 1], np.uint8), IMAGES, LABELS), r"^src: train label at index 1 is 12; expected a digit 0-9$"),
        (data.MnistData(IMAGES[:, :27], LABELS, IMAGES, LABELS), r"^src: train images must be uint8 of shape \(N, 28, 28\); got uint8 \(3, 27, 28\)$"),
        (data.MnistData(IMAGES, LABELS, IMAGES, LABELS[:2]), r"^src: test labels must be uint8 of shape \(3,\); got uint8 \(2,\)$"),
        (data.MnistData(IMAGES, LABELS, IMAGES[:0], LABELS[:0]), r"^src: the test split is empty; expected at least one image$"),
    ],
)
def test_validate_rejects_malformed_arrays(arrays, message):
    with pytest.raises(ValueError, match=message):
        data.validate(arrays, source="src", expect_canonical=False)


def test_write_csvs_writes_both_canonical_files(tmp_path):
    run.write_csvs(data.MnistData(IMAGES, LABELS, IMAGES[:1], LABELS[:1]), tmp_path / "train.csv", tmp_path / "test.csv")
    assert (tmp_path / "train.csv").read_text() == write_layout(tmp_path / "expected.csv", "rowcol", IMAGES, LABELS).read_text()
    assert mnist_csv.read_csv(tmp_path / "test.csv")[1].tolist() == [7]


def test_write_csvs_leaves_neither_file_when_the_second_cannot_be_written(tmp_path, monkeypatch):
    original = mnist_csv.write_csv
    calls = []

    def fail_on_second(path, images, labels):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        original(path, images, labels)

    monkeypatch.setattr(mnist_csv, "write_csv", fail_on_second)
    with pytest.raises(OSError, match="disk full"):
        run.write_csvs(data.MnistData(IMAGES, LABELS, IMAGES, LABELS), tmp_path / "train.csv", tmp_path / "test.csv")
    assert list(tmp_path.iterdir()) == []
