"""The field set on tiny literal data: records, the folder, the hash split, mixing, its metrics, the headline."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from mnistflow.core import field_record, params
from mnistflow.data import field
from mnistflow.evaluation import field as field_evaluation, summary


def digit_image(value: int) -> np.ndarray:
    """A distinct 28x28 uint8 image per value: a bright square whose position and level depend on it."""
    image = np.zeros((28, 28), np.uint8)
    image[value % 20 : value % 20 + 6, (value // 20) % 20 : (value // 20) % 20 + 6] = 50 + value % 200
    return image


def write_records(folder: pathlib.Path, values: list[int], labels: list[int]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for value, label in zip(values, labels):
        image = digit_image(value)
        name = field_record.file_name(image)
        (folder / name).write_text(field_record.dumps(image, label=label, answer={"digit": 1}, model_md5=None, raw=b"png"))
        names.append(name)
    return names


def test_record_round_trips_image_and_label_under_a_name_made_from_the_image():
    image = digit_image(3)
    text = field_record.dumps(image, label=7, answer={"digit": 1, "probability": 0.5}, model_md5="abc", raw=b"\x89PNG")
    loaded, label = field_record.loads(text, source="x.json")
    assert label == 7 and np.array_equal(loaded, image)
    assert field_record.NAME.fullmatch(field_record.file_name(image))
    assert field_record.file_name(image) == field_record.file_name(image.copy()) != field_record.file_name(digit_image(4))
    assert json.loads(text)["raw"] == "iVBORw=="


@pytest.mark.parametrize(("text", "message"), [
    ("not json", r"x\.json: not JSON"),
    ('{"format": 1, "label": 10, "image": ""}', r"x\.json: label must be a digit 0-9; got 10"),
    ('{"format": 1, "label": "7", "image": ""}', r"x\.json: label must be a digit 0-9; got '7'"),
    ('{"format": 1, "label": 7, "image": "AAAA"}', r"x\.json: image must be base64 of 784 bytes \(28x28 uint8\); got 3 bytes"),
    ('{"format": 2, "label": 7}', r"x\.json: format must be 1; got 2"),
])
def test_record_loads_rejects_a_bad_record_naming_the_file_and_field(text, message):
    with pytest.raises(ValueError, match=message):
        field_record.loads(text, source="x.json")


def test_read_folder_reads_records_in_name_order_skips_other_files_and_counts_a_duplicate_image_once(tmp_path):
    names = write_records(tmp_path, [1, 2, 3], [4, 5, 6])
    duplicate = field_record.dumps(digit_image(2), label=5, answer={}, model_md5=None, raw=None)
    (tmp_path / ("f" * 32 + ".json")).write_text(duplicate)  # same image, another name: read once
    (tmp_path / "README.txt").write_text("not a record")
    images, labels, read = field.read_folder(tmp_path)
    order = np.argsort(names)
    assert read == sorted(names)
    assert labels.tolist() == [[4, 5, 6][i] for i in order]
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8


def test_read_folder_of_a_missing_or_empty_folder_is_an_empty_set(tmp_path):
    for folder in (tmp_path / "missing", tmp_path):
        images, labels, names = field.read_folder(folder)
        assert images.shape == (0, 28, 28) and labels.shape == (0,) and names == []


def test_read_folder_refuses_the_same_image_with_two_labels(tmp_path):
    write_records(tmp_path, [2], [5])
    (tmp_path / ("f" * 32 + ".json")).write_text(field_record.dumps(digit_image(2), label=3, answer={}, model_md5=None, raw=None))
    with pytest.raises(ValueError, match=r"f{32}\.json: the same image as [0-9a-f]{32}\.json but labelled 3, not 5"):
        field.read_folder(tmp_path)


def test_split_keeps_every_digit_on_its_side_when_more_digits_arrive():
    images = np.stack([digit_image(value) for value in range(40)])
    labels = np.arange(40, dtype=np.uint8) % 10
    (train_few, _), (eval_few, _) = field.split(images[:20], labels[:20], eval_share=0.5)
    (train_all, _), (eval_all, _) = field.split(images, labels, eval_share=0.5)
    assert len(train_few) + len(eval_few) == 20 and len(eval_few) > 0 and len(train_few) > 0
    in_eval = {image.tobytes() for image in eval_all}
    assert all(image.tobytes() in in_eval for image in eval_few)
    assert not any(image.tobytes() in in_eval for image in train_few)


def test_mix_appends_the_hashed_share_of_field_digits_and_zero_share_changes_nothing():
    train_images, train_labels = np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8)
    field_images = np.stack([digit_image(value) for value in range(30)])
    field_labels = np.full(30, 7, np.uint8)
    same_images, same_labels = field.mix(train_images, train_labels, field_images, field_labels, share=0.0)
    assert same_images is train_images and same_labels is train_labels
    half, half_labels = field.mix(train_images, train_labels, field_images, field_labels, share=0.5)
    everything, _ = field.mix(train_images, train_labels, field_images, field_labels, share=1.0)
    assert 3 < len(half) < 33 and len(everything) == 33
    assert half_labels[3:].tolist() == [7] * (len(half) - 3)
    assert {image.tobytes() for image in half[3:]} <= {image.tobytes() for image in everything[3:]}


@pytest.mark.parametrize(("section", "message"), [
    ({"eval_share": 0}, r"field\.eval_share must be in \(0\.0, 1\.0\); got 0"),
    ({"train_share": 1.5}, r"field\.train_share must be in \[0\.0, 1\.0\]; got 1\.5"),
    ({"share": 0.5}, r"field\.share is not a known parameter"),
])
def test_field_params_reject_out_of_range_and_unknown_keys(section, message):
    with pytest.raises(ValueError, match=message):
        params.parse(field.FieldParams, section, key="field")


def test_field_metrics_give_accuracy_recall_and_unsure_share():
    labels = np.array([0, 0, 1, 2], np.uint8)
    probabilities = np.eye(10, dtype=np.float32)[[0, 1, 1, 2]]
    result = field_evaluation.field_metrics(labels, probabilities, np.array([False, True, False, False]))
    assert result["count"] == 4 and result["accuracy"] == 0.75 and result["errors"] == 1 and result["unsure_share"] == 0.25
    assert result["per_digit"]["0"] == {"count": 2, "recall": 0.5}
    assert result["per_digit"]["1"] == {"count": 1, "recall": 1.0}
    assert result["per_digit"]["3"] == {"count": 0, "recall": None}


def test_field_metrics_of_no_digits_are_null_not_zero():
    result = field_evaluation.field_metrics(np.zeros(0, np.uint8), np.zeros((0, 10), np.float32), np.zeros(0, bool))
    assert (result["count"], result["accuracy"], result["errors"], result["unsure_share"]) == (0, None, None, None)
    assert result["per_digit"]["5"] == {"count": 0, "recall": None}


def test_headline_has_field_acc_only_when_there_are_field_digits():
    test, val = {"accuracy": 0.9, "errors": 1, "f1_macro": 0.8}, {"accuracy": 0.95}
    assert "field_acc" not in summary.headline(test=test, val=val)
    assert "field_acc" not in summary.headline(test=test, val=val, field={"count": 0, "accuracy": None})
    assert summary.headline(test=test, val=val, field={"count": 4, "accuracy": 0.75})["field_acc"] == 0.75


def run_stage(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], capture_output=True, text=True, cwd=ROOT)


def test_field_stage_packs_a_folder_into_train_and_eval_and_names_a_bad_record_in_one_line(tmp_path):
    from mnistflow.core import arrays

    folder = tmp_path / "field"
    write_records(folder, list(range(12)), [value % 10 for value in range(12)])
    outs = ["--train-out", str(tmp_path / "train.npz"), "--eval-out", str(tmp_path / "eval.npz")]
    packed = run_stage("field.py", "--params", str(ROOT / "params.yaml"), "--folder", str(folder), *outs)
    assert packed.returncode == 0, packed.stderr
    train_images, _ = arrays.load_split(tmp_path / "train.npz")
    eval_images, _ = arrays.load_split(tmp_path / "eval.npz")
    assert len(train_images) + len(eval_images) == 12

    (folder / ("e" * 32 + ".json")).write_text('{"format": 1, "label": 12}')
    refused = run_stage("field.py", "--params", str(ROOT / "params.yaml"), "--folder", str(folder), *outs)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [f"error: {folder / ('e' * 32 + '.json')}: label must be a digit 0-9; got 12"]


def test_oversample_stage_mixes_in_the_field_train_part_only_when_train_share_asks(tmp_path):
    from mnistflow.core import arrays, cli
    from stage_scripts import load_stage

    arrays.save_split(tmp_path / "train.npz", np.zeros((4, 28, 28), np.uint8), np.array([0, 0, 1, 1], np.uint8))
    arrays.save_split(tmp_path / "field.npz", np.stack([digit_image(value) for value in range(6)]), np.full(6, 2, np.uint8))
    stage = load_stage("oversample")
    counts = {}
    for share in (0.0, 1.0):
        (tmp_path / "params.yaml").write_text(f"seed: 1\noversample:\n  method: none\nfield:\n  train_share: {share}\n")
        status = cli.run(stage.main, [
            "--params", str(tmp_path / "params.yaml"), "--train", str(tmp_path / "train.npz"), "--field-train", str(tmp_path / "field.npz"),
            "--out", str(tmp_path / "out.npz"), "--counts", str(tmp_path / "c.csv"), "--figure", str(tmp_path / "c.png"),
        ])
        assert status == 0
        counts[share] = arrays.class_counts(arrays.load_split(tmp_path / "out.npz")[1])[:3].tolist()
    assert counts == {0.0: [2, 2, 0], 1.0: [2, 2, 6]}
