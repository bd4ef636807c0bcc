"""The evaluate stage in-process, with dvc.yaml's own command line, on a tiny Keras model exported to ONNX."""
import csv
import json
import math
import pathlib
import shlex

import numpy as np
import pytest
import yaml
from PIL import Image

from mnistflow.core import arrays, cli
from stage_scripts import load_stage  # tests/stage_scripts.py
from synthetic import make_digits

ROOT = pathlib.Path(__file__).resolve().parent.parent
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = {"seed": 42, "evaluate": {"batch_size": 16, "curve_points": 50, "sample_images": 12, "mistake_images": 5}}


STAGE = load_stage("evaluate")


def stage_argv() -> list[str]:
    """dvc.yaml's command for the stage, without `python stages/evaluate.py`."""
    words = shlex.split(DVC_YAML["stages"]["evaluate"]["cmd"])
    assert words[:2] == ["python", "stages/evaluate.py"]
    return words[2:]


def argument(name: str) -> str:
    argv = stage_argv()
    return argv[argv.index(name) + 1]


CARD = {"temperature": 1.0, "unsure_threshold": 0.5}  # what the export stage copies into the ONNX file's metadata


def tiny_onnx(path: pathlib.Path, *, activation: str = "softmax", train: bool = True) -> pathlib.Path:
    """Rescaling + Flatten + Dense, as the interface asks (float32 (N, 28, 28, 1) 0-255 in), exported as the export stage does."""
    import keras

    from mnistflow.serving import export

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation=activation),
    ])
    if train:
        images, labels = make_digits(10, seed=3)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        model.fit(arrays.to_model_input(images), labels, epochs=3, batch_size=32, verbose=0)
    export.export_onnx(model, path, **CARD)
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("models") / "model.onnx")


def lay_out_inputs(directory: pathlib.Path, model_file: pathlib.Path) -> None:
    """Params, model, val and test splits where dvc.yaml's command expects them; no outputs."""
    (directory / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    (directory / "models").mkdir()
    (directory / argument("--model")).write_bytes(model_file.read_bytes())
    arrays.save_split(directory / argument("--val"), *make_digits(3, seed=4))
    arrays.save_split(directory / argument("--test"), *make_digits(5, seed=5))
    noise = np.random.default_rng(6).integers(0, 256, size=(8, 28, 28), dtype=np.uint8)
    arrays.save_split(directory / argument("--ood-val"), noise[:4], np.zeros(4, np.uint8))
    arrays.save_split(directory / argument("--ood-test"), noise[4:], np.zeros(4, np.uint8))


@pytest.fixture
def workdir(tmp_path, monkeypatch, model_file):
    lay_out_inputs(tmp_path, model_file)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, model_file):
    """One successful run of the stage, shared by the tests that only read its outputs."""
    directory = tmp_path_factory.mktemp("evaluated")
    lay_out_inputs(directory, model_file)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        status = cli.run(STAGE.main, stage_argv())
    assert status == 0
    return directory


def run_stage(capsys) -> tuple[int, str]:
    status = cli.run(STAGE.main, stage_argv())
    return status, capsys.readouterr().err


def output_paths() -> list[str]:
    return [argument(name) for name in ("--metrics", "--val-metrics", "--report", "--plots", "--predictions")]


def test_evaluate_stage_creates_missing_output_directories_and_every_declared_metric(evaluated):
    workdir = evaluated  # laid out without metrics/ and plots/: the run created them
    # Detail files: uncached outputs in git, not declared metrics (the summary stage's headline is).
    uncached = [next(iter(entry)) for entry in DVC_YAML["stages"]["evaluate"]["outs"]
                if isinstance(entry, dict) and next(iter(entry.values())).get("cache") is False]
    assert uncached[:2] == [argument("--metrics"), argument("--val-metrics")]
    assert "metrics" not in DVC_YAML["stages"]["evaluate"]
    test_metrics = json.loads((workdir / argument("--metrics")).read_text())
    val_metrics = json.loads((workdir / argument("--val-metrics")).read_text())
    assert test_metrics["samples"] == 50 and val_metrics["samples"] == 30
    assert set(test_metrics) == {
        "samples", "errors", "accuracy", "f1_macro", "f1_weighted", "log_loss", "roc_auc_macro", "per_digit", "calibration", "ood",
    }
    assert set(test_metrics["calibration"]) == {"ece", "ece_before_scaling", "brier", "temperature"}
    assert 0 <= test_metrics["calibration"]["ece"] <= 1 and test_metrics["calibration"]["temperature"] == 1.0
    assert test_metrics["ood"]["ood_images"] == 4 and test_metrics["ood"]["unsure_threshold"] == 0.5  # the ONNX file's metadata
    assert sorted(test_metrics["per_digit"], key=int) == [str(d) for d in range(10)]
    assert test_metrics["accuracy"] == pytest.approx(1 - test_metrics["errors"] / 50)
    report = (workdir / argument("--report")).read_text()
    assert report.startswith("Test set (50 images)") and "Validation set (30 images)" in report


def evaluate_plot_entries() -> list:
    """dvc.yaml's top-level plots whose files the evaluate stage writes (other stages declare more)."""
    plots_dir = argument("--plots") + "/"
    return [
        entry for entry in DVC_YAML["plots"]
        if (entry if isinstance(entry, str) else next(iter(next(iter(entry.values()))["y"]))).startswith(plots_dir)
    ]


def test_evaluate_stage_writes_every_top_level_plot_valid_for_its_template(evaluated):
    workdir = evaluated
    assert len(evaluate_plot_entries()) == 9  # confusion counts and normalised, ROC, PR, reliability, 4 PNGs
    errors = json.loads((workdir / argument("--metrics")).read_text())["errors"]
    png_sizes = {
        "plots/evaluate/predictions.png": (1000, 230),  # 12 samples: 2 rows of 10
        "plots/evaluate/mistakes.png": (1000, 115 * math.ceil(min(5, errors) / 10)) if errors else (400, 100),
        "plots/evaluate/confusion_matrix.png": (600, 550),
        "plots/evaluate/reliability.png": (500, 500),
    }
    for entry in evaluate_plot_entries():
        if isinstance(entry, str):
            with Image.open(workdir / entry) as image:
                assert image.format == "PNG" and image.size == png_sizes.pop(entry), entry
            continue
        (plot_id, spec), = entry.items()
        (path, fields), = spec["y"].items()
        rows = list(csv.DictReader((workdir / path).read_text().splitlines()))
        fields = [fields] if isinstance(fields, str) else fields
        assert set(fields) | {spec["x"]} <= set(rows[0]), plot_id
        if plot_id == "test_reliability":
            assert sum(int(row["images"]) for row in rows) == 50  # every test image in one bin
            assert all(0.0 <= float(row[field]) <= 1.0 for row in rows for field in ("confidence", "accuracy"))
        elif spec["template"].startswith("confusion"):
            assert len(rows) == 50
            assert {int(row[spec["x"]]) for row in rows} <= set(range(10))
            assert sorted(int(row[fields[0]]) for row in rows) == sorted(np.load(workdir / argument("--test"))["labels"].tolist())
        else:
            assert spec["template"] == "linear" and len(rows) == PARAMS["evaluate"]["curve_points"]
            x = [float(row[spec["x"]]) for row in rows]
            assert x[0] == 0.0 and x[-1] == 1.0 and x == sorted(x)
            assert all(0.0 <= float(row[field]) <= 1.0 for row in rows for field in fields)
    assert png_sizes == {}, "declared PNGs missing from dvc.yaml's plots"


def test_evaluate_stage_gives_byte_identical_outputs_on_a_second_run(evaluated, workdir, capsys):
    names = [argument("--metrics"), argument("--val-metrics"), argument("--report"), "plots/evaluate/confusion.csv",
             "plots/evaluate/roc.csv", "plots/evaluate/precision_recall.csv", argument("--predictions")]
    first = {name: (evaluated / name).read_bytes() for name in names}
    status, err = run_stage(capsys)
    assert status == 0, err
    assert {name: (workdir / name).read_bytes() for name in names} == first


def assert_failed_without_outputs(workdir, capsys, expected: str) -> None:
    status, err = run_stage(capsys)
    assert status == 1
    assert err.splitlines()[-1] == expected
    assert [path for path in output_paths() if (workdir / path).exists()] == []


def test_evaluate_stage_writes_the_predicted_digit_of_every_test_and_validation_image(evaluated):
    from mnistflow.serving import runtime

    with np.load(evaluated / argument("--predictions")) as data:
        written = {name: data[name] for name in data.files}
    assert sorted(written) == ["test", "val"]
    for split in written:
        images, _ = arrays.load_split(evaluated / argument(f"--{split}"))
        assert written[split].dtype == np.uint8
        np.testing.assert_array_equal(written[split], runtime.load(evaluated / argument("--model")).predict(images).argmax(axis=1))


def test_evaluate_stage_rejects_a_model_file_that_is_not_onnx(workdir, capsys):
    (workdir / argument("--model")).write_text("not a model")
    status, err = run_stage(capsys)
    assert status == 1
    assert err.splitlines()[-1].startswith("error: models/model.onnx: not an ONNX model onnxruntime can run (")
    assert [path for path in output_paths() if (workdir / path).exists()] == []


def test_evaluate_stage_rejects_a_model_whose_outputs_are_not_probabilities(workdir, capsys):
    tiny_onnx(workdir / argument("--model"), activation="linear", train=False)
    status, err = run_stage(capsys)
    assert status == 1
    assert err.splitlines()[-1].startswith("error: models/model.onnx: outputs must be probabilities (softmax rows summing to 1); row sums range from ")
    assert err.splitlines()[-1].endswith("; end the model with a softmax")


def test_evaluate_stage_fails_in_one_line_when_the_metrics_directory_cannot_be_created(workdir, capsys):
    (workdir / "metrics").write_text("a file where the metrics directory should be")
    assert_failed_without_outputs(
        workdir, capsys,
        f"error: {argument('--metrics')}: cannot create its directory metrics (File exists); fix the path in dvc.yaml (stage evaluate)",
    )


def test_evaluate_stage_rejects_a_missing_model_file(workdir, capsys):
    (workdir / argument("--model")).unlink()
    assert_failed_without_outputs(
        workdir, capsys, "error: models/model.onnx: no such model file; export one first (dvc repro export)"
    )


def test_evaluate_stage_rejects_an_empty_validation_split(workdir, capsys):
    arrays.save_split(workdir / argument("--val"), np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    assert_failed_without_outputs(
        workdir, capsys,
        "error: data/prepared/val.npz: has no images, so there is nothing to evaluate; check the preprocess params",
    )


def test_evaluate_stage_names_a_bad_evaluate_param(workdir, capsys):
    (workdir / "params.yaml").write_text(yaml.safe_dump({"seed": 1, "evaluate": {"curve_points": 2}}))
    assert_failed_without_outputs(workdir, capsys, "error: evaluate.curve_points must be in [3, 10000]; got 2")


def test_write_outputs_leaves_old_outputs_untouched_when_a_figure_fails_to_save(evaluated, tmp_path, monkeypatch):
    import shutil

    from mnistflow.evaluation import evaluate

    shutil.copytree(evaluated, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    before = {path: (tmp_path / path).read_bytes() for path in [*output_paths()[:3], argument("--predictions")]}
    before_plots = {p.name: p.read_bytes() for p in (tmp_path / argument("--plots")).iterdir()}
    images, labels = make_digits(2, seed=6)
    probabilities = np.full((20, 10), 0.1)
    result = evaluate.evaluate(test=(images, labels, probabilities), val=(images, labels, probabilities),
                               params=evaluate.EvaluateParams(curve_points=5, sample_images=3, mistake_images=3))
    monkeypatch.setattr(result.plot_figures[evaluate.MISTAKES_PNG], "savefig",
                        lambda *args, **kwargs: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        evaluate.write_outputs(result, metrics_path=argument("--metrics"), val_metrics_path=argument("--val-metrics"),
                               report_path=argument("--report"), plots_dir=argument("--plots"),
                               predictions_path=argument("--predictions"))
    assert {path: (tmp_path / path).read_bytes() for path in before} == before
    assert {p.name: p.read_bytes() for p in (tmp_path / argument("--plots")).iterdir()} == before_plots
    assert [p.name for p in tmp_path.rglob(".*tmp*")] == []
