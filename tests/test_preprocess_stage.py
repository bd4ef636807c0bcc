"""The preprocess stage script, run in-process: outputs on good input, one-line errors on bad input."""
import logging
import pathlib
import re

import numpy as np
import pytest
import yaml

from mnistflow.core import arrays, cli, mnist_csv
from stage_scripts import load_stage  # tests/stage_scripts.py
from synthetic import make_digits

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADER = ",".join(mnist_csv.ROWCOL_HEADER)
OUTPUTS = {
    "--train-out": "prepared/train.npz", "--val-out": "prepared/val.npz", "--test-out": "prepared/test.npz",
    "--train-counts": "plots/counts/train.csv", "--val-counts": "plots/counts/val.csv",
    "--test-counts": "plots/counts/test.csv", "--counts-png": "plots/counts.png", "--samples-png": "plots/samples.png",
}


@pytest.fixture
def stage_run(tmp_path):
    """Write params and CSVs into tmp_path, run the stage; returns (exit status, stderr)."""
    main = load_stage("preprocess").main
    train_csv, test_csv = tmp_path / "raw" / "train.csv", tmp_path / "raw" / "test.csv"
    mnist_csv.write_csv(train_csv, *make_digits(4, seed=1))
    mnist_csv.write_csv(test_csv, *make_digits(2, seed=2))

    def run(capsys, *, preprocess=None, train_text=None, test_text=None):
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 3, "preprocess": preprocess or {"val_fraction": 0.5}}))
        if train_text is not None:
            train_csv.write_text(train_text)
        if test_text is not None:
            test_csv.write_text(test_text)
        argv = ["--params", str(tmp_path / "params.yaml"), "--train-csv", str(train_csv), "--test-csv", str(test_csv)]
        for flag, name in OUTPUTS.items():
            argv += [flag, str(tmp_path / name)]
        status = cli.run(main, argv)
        return status, capsys.readouterr().err

    return run


def test_preprocess_stage_writes_splits_counts_and_pictures(tmp_path, stage_run, capsys, caplog):
    caplog.set_level(logging.INFO)
    status, err = stage_run(capsys, preprocess={"val_fraction": 0.25, "class_fraction": {3: 0.5}})
    assert status == 0, err
    train_images, train_labels = arrays.load_split(tmp_path / "prepared/train.npz")
    _, val_labels = arrays.load_split(tmp_path / "prepared/val.npz")
    test_images, test_labels = arrays.load_split(tmp_path / "prepared/test.npz")
    assert arrays.class_counts(val_labels).tolist() == [1] * 10
    assert arrays.class_counts(train_labels).tolist() == [3, 3, 3, 2, 3, 3, 3, 3, 3, 3]  # 3 * 0.5 -> 2
    np.testing.assert_array_equal(test_images, make_digits(2, seed=2)[0])  # the test CSV, untouched
    assert (tmp_path / "plots/counts/train.csv").read_text().splitlines()[4] == "3,2"
    assert (tmp_path / "plots/counts/test.csv").read_text().splitlines()[1:] == [f"{d},2" for d in range(10)]
    for png in ("plots/counts.png", "plots/samples.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "train: images (29, 28, 28), class counts [3, 3, 3, 2, 3, 3, 3, 3, 3, 3]" in caplog.text


def good_rows(count):
    return "".join(",".join([str(i % 10)] + ["0"] * 784) + "\n" for i in range(count))


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param(
            {"test_text": HEADER + "\n" + good_rows(2) + ",".join(["10"] + ["0"] * 784) + "\n"},
            r"raw/test\.csv: line 4, column 1 \(label\) is 10; expected a label, an integer 0-9",
            id="bad-test-csv",
        ),
        pytest.param(
            {"train_text": HEADER.replace("label,", "digit,") + "\n" + good_rows(20)},
            r"raw/train\.csv: line 1 \(header\), column 1 is 'digit'; expected 'label'",
            id="bad-train-header",
        ),
        pytest.param({"train_text": ""}, r"raw/train\.csv: file is empty; expected a header line", id="empty-train-csv"),
        pytest.param(
            {"preprocess": {"val_fraction": 0.5, "shuffle": True}},
            r"preprocess\.shuffle is not a known parameter; expected one of: val_fraction, subset, class_fraction",
            id="unknown-key",
        ),
        pytest.param(
            {"preprocess": {"val_fraction": 1.5}}, r"preprocess\.val_fraction must be in \(0, 1\); got 1\.5", id="val-fraction"
        ),
        pytest.param(
            {"preprocess": {"class_fraction": {11: 0.5}}},
            r"preprocess\.class_fraction has digit 11; allowed digits are 0-9",
            id="class-fraction-digit-11",
        ),
        pytest.param(
            {"preprocess": {"val_fraction": 0.05}},
            r"preprocess\.val_fraction=0\.05 of 40 images gives 2 for validation",
            id="split-too-small",
        ),
    ],
)
def test_preprocess_stage_fails_with_one_line_and_writes_nothing(tmp_path, stage_run, capsys, inputs, message):
    status, err = stage_run(capsys, **inputs)
    assert status == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert re.search(message, last), last
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "plots").exists()


def test_preprocess_stage_names_a_missing_csv(tmp_path, stage_run, capsys):
    (tmp_path / "raw" / "test.csv").unlink()
    status, err = stage_run(capsys)
    assert status == 1
    assert re.search(r"^error: .*No such file or directory: '.*raw/test\.csv'$", err.strip().splitlines()[-1])
    assert not (tmp_path / "prepared").exists()
