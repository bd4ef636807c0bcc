"""The predict command's output, exit statuses and messages, with a stand-in model (no TensorFlow, no onnxruntime)."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnistflow import __main__ as command
from mnistflow.core import mnist_csv
from mnistflow.serving import predict

ROOT = pathlib.Path(__file__).resolve().parent.parent


class CountingModel:
    """Answers (bright pixels mod 10) with 0.7, that digit + 3 with 0.2, the rest 0.0125 each."""

    def __init__(self, unsure_threshold=None):
        self.unsure_threshold = unsure_threshold

    def predict(self, images):
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        digits = (images > 127).sum(axis=(1, 2)) % 10
        probabilities = np.full((len(images), 10), 0.0125, dtype=np.float32)
        probabilities[np.arange(len(images)), digits] = 0.7
        probabilities[np.arange(len(images)), (digits + 3) % 10] = 0.2
        return probabilities


@pytest.fixture
def counting_model(monkeypatch, tmp_path):
    (tmp_path / "model.onnx").write_text("stand-in")
    monkeypatch.setattr(predict, "load_model", lambda path: CountingModel())
    return tmp_path / "model.onnx"


@pytest.fixture
def model_with_threshold(monkeypatch, tmp_path):
    """A stand-in whose metadata threshold (0.75) is above its 0.7 answers: every answer unsure."""
    monkeypatch.setattr(predict, "load_model", lambda path: CountingModel(unsure_threshold=0.75))
    return tmp_path / "model.onnx"


def images_with_bright_pixels(*counts: int) -> np.ndarray:
    images = np.zeros((len(counts), 28, 28), dtype=np.uint8)
    for image, count in zip(images, counts):
        image.flat[:count] = 255
    return images


def write_csv(path, *counts):
    mnist_csv.write_csv(path, images_with_bright_pixels(*counts), np.zeros(len(counts), np.uint8))
    return path


def test_top_two_gives_digit_runner_up_and_their_probabilities_with_ties_to_the_lower_digit():
    probabilities = np.array([[0.1, 0.6, 0.0, 0.3, 0, 0, 0, 0, 0, 0], [0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.5]])
    digit, probability, runner_up, runner_up_probability = predict.top_two(probabilities)
    assert digit.tolist() == [1, 0] and probability.tolist() == [0.6, 0.5]
    assert runner_up.tolist() == [3, 9] and runner_up_probability.tolist() == [0.3, 0.5]


def test_classify_calls_the_model_in_chunks_and_keeps_the_order():
    calls = []

    class Recording(CountingModel):
        def predict(self, images):
            calls.append(len(images))
            return super().predict(images)

    probabilities = predict.classify(Recording(), images_with_bright_pixels(1, 2, 3, 4, 5), batch_size=2)
    assert calls == [2, 2, 1] and probabilities.argmax(axis=1).tolist() == [1, 2, 3, 4, 5]


def test_predict_prints_a_table_per_csv_row(counting_model, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", 7, 12)
    assert command.main(["predict", str(path), "--model", str(counting_model)]) == 0
    width = len(f"{path}:2")
    assert capsys.readouterr().out == (
        f"{'input':<{width}}  digit  probability  runner-up  probability\n"
        f"{path}:2      7       0.7000          0       0.2000\n"
        f"{path}:3      2       0.7000          5       0.2000\n"
    )


def test_predict_csv_format_has_a_header_and_one_line_per_input(counting_model, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", 4)
    assert command.main(["predict", str(path), "--model", str(counting_model), "--format", "csv"]) == 0
    assert capsys.readouterr().out == (
        "input,digit,probability,runner_up,runner_up_probability,unsure\n" f"{path}:2,4,0.7000,7,0.2000,false\n"
    )


def test_predict_json_format_parses_to_one_record_per_input(counting_model, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", 3, 9)
    assert command.main(["predict", str(path), "--model", str(counting_model), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records == [
        {"input": f"{path}:2", "digit": 3, "probability": 0.7, "runner_up": 6, "runner_up_probability": 0.2, "unsure": False},
        {"input": f"{path}:3", "digit": 9, "probability": 0.7, "runner_up": 2, "runner_up_probability": 0.2, "unsure": False},
    ]


def test_predict_classifies_the_good_inputs_reports_each_bad_one_and_exits_1(counting_model, tmp_path, capsys):
    csv_path = tmp_path / "t.csv"
    csv_path.write_text(",".join(mnist_csv.ROWCOL_HEADER) + "\n" + ",".join(["1"] + ["0"] * 783 + ["x"]) + "\n")
    image = np.full((30, 30), 255, np.uint8)
    image[5:25, 10:20] = 0
    Image.fromarray(image).save(tmp_path / "good.png")
    Image.fromarray(np.full((30, 30), 255, np.uint8)).save(tmp_path / "blank.png")
    (tmp_path / "text.jpg").write_text("hello")
    arguments = [str(tmp_path / n) for n in ("good.png", "blank.png", "text.jpg", "nothing.png", "t.csv")]
    assert command.main(["predict", *arguments, "--model", str(counting_model), "--format", "csv"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[1].startswith(f"{tmp_path}/good.png,") and len(out.splitlines()) == 2
    lines = err.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(f"error: {tmp_path}/blank.png: no ink found: the strongest stroke is 0 grey levels")
    assert lines[1].startswith(f"error: {tmp_path}/text.jpg: not an image that can be read (cannot identify image file")
    assert lines[2] == f"error: {tmp_path}/nothing.png: no such file or directory"
    assert lines[3] == f"error: {tmp_path}/t.csv:2: line 2, column 785 (28x28) is 'x'; expected a pixel, an integer 0-255"


def test_predict_exits_1_when_every_input_failed_and_prints_an_empty_json_list(counting_model, tmp_path, capsys):
    arguments = ["predict", str(tmp_path / "nothing.png"), "--model", str(counting_model), "--format", "json"]
    assert command.main(arguments) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == [] and err == f"error: {tmp_path}/nothing.png: no such file or directory\n"


def test_predict_save_prepared_writes_the_28x28_the_model_saw_per_input(counting_model, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", 5, 6)
    arguments = ["predict", str(path), "--model", str(counting_model), "--save-prepared", str(tmp_path / "seen")]
    assert command.main(arguments) == 0
    files = sorted((tmp_path / "seen").iterdir())
    assert [f.name for f in files] == [predict.prepared_file_name(0, f"{path}:2"), predict.prepared_file_name(1, f"{path}:3")]
    np.testing.assert_array_equal(np.asarray(Image.open(files[1])), images_with_bright_pixels(6)[0])


def test_prepared_file_name_is_numbered_and_uses_safe_characters_only():
    assert predict.prepared_file_name(3, "/home/me/my digits/seven.jpg") == "00003-home_me_my_digits_seven.jpg.png"
    assert predict.prepared_file_name(12, "data/test.csv:14") == "00012-data_test.csv_14.png"


def test_predict_reports_a_missing_model_with_how_to_get_one(tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", 1)
    assert command.main(["predict", str(path), "--model", str(tmp_path / "none.onnx")]) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path}/none.onnx: no such model file; export one first (dvc repro export) or pass --model PATH\n"
    )


def test_predict_rejects_a_keras_model_saying_to_export_it(tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", 1)
    (tmp_path / "model.keras").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip, as far as the check goes
    assert command.main(["predict", str(path), "--model", str(tmp_path / "model.keras")]) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path}/model.keras: a Keras model; predict runs its ONNX export: "
        "run `dvc repro export` and pass --model models/model.onnx\n"
    )


def test_predict_marks_answers_below_the_model_s_threshold_unsure_in_every_format(model_with_threshold, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", 7)
    arguments = ["predict", str(path), "--model", str(model_with_threshold)]
    assert command.main([*arguments, "--format", "table"]) == 0
    width = len(f"{path}:2")
    assert capsys.readouterr().out == (
        f"{'input':<{width}}  {'digit':>21}  probability  runner-up  probability\n"  # 21: len('unsure (best guess 7)')
        f"{path}:2  unsure (best guess 7)       0.7000          0       0.2000\n"
    )
    assert command.main([*arguments, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"{path}:2,7,0.7000,0,0.2000,true"
    assert command.main([*arguments, "--format", "json"]) == 0
    assert [r["unsure"] for r in json.loads(capsys.readouterr().out)] == [True]


@pytest.mark.parametrize(
    ("flag", "expected"),
    [([], [True, True]), (["--unsure-threshold", "0"], [False, False]), (["--unsure-threshold", "0.7"], [False, False]),
     (["--unsure-threshold", "0.71"], [True, True])],
    ids=["metadata-0.75", "flag-0-turns-it-off", "flag-equal-is-sure", "flag-0.71"],
)
def test_unsure_threshold_flag_overrides_the_model_s_metadata(model_with_threshold, tmp_path, capsys, flag, expected):
    path = write_csv(tmp_path / "t.csv", 3, 8)
    assert command.main(["predict", str(path), "--model", str(model_with_threshold), "--format", "json", *flag]) == 0
    assert [r["unsure"] for r in json.loads(capsys.readouterr().out)] == expected


@pytest.mark.parametrize(("threshold", "expected"), [(None, [False, False]), (0.0, [False, False]), (1.01, [True, True]), (0.5, [False, True])])
def test_is_unsure_compares_the_top_probability_with_the_threshold(threshold, expected):
    probabilities = np.array([[1.0] + [0.0] * 9, [0.4, 0.35, 0.25] + [0.0] * 7])
    assert predict.is_unsure(probabilities, threshold).tolist() == expected


def test_a_threshold_of_1_01_makes_every_answer_unsure_even_without_metadata(counting_model, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", 1, 2)
    arguments = ["predict", str(path), "--model", str(counting_model), "--format", "csv", "--unsure-threshold", "1.01"]
    assert command.main(arguments) == 0
    assert [line.rsplit(",", 1)[1] for line in capsys.readouterr().out.splitlines()[1:]] == ["true", "true"]


@pytest.mark.parametrize("value", ["-0.1", "nan", "high"])
def test_predict_rejects_an_unsure_threshold_that_is_not_a_number_at_least_0(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        command.main(["predict", "x.png", "--unsure-threshold", value])
    assert exit_info.value.code == 2
    assert f"argument --unsure-threshold: must be a number >= 0 (a probability; 0 turns it off); got '{value}'" in capsys.readouterr().err


def test_predict_rejects_an_unknown_format_with_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        command.main(["predict", "x.png", "--format", "xml"])
    assert exit_info.value.code == 2
    assert "argument --format: invalid choice: 'xml' (choose from 'table', 'json', 'csv')" in capsys.readouterr().err


def test_python_dash_m_mnistflow_predict_help_runs_without_loading_tensorflow():
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mnistflow", "predict", "--help"],
        capture_output=True, text=True, env=environment, check=False,
    )
    assert result.returncode == 0 and "--save-prepared DIR" in result.stdout
    assert "tensorflow" not in result.stderr and "onnxruntime" not in result.stderr  # -X importtime lists every module imported
