"""The robustness summary, its chart data, and the corrupt/ood params' checks."""
from __future__ import annotations

import pathlib

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


def robustness_argv() -> list[str]:
    """dvc.yaml's command for the robustness stage, without `python stages/robustness.py`."""
    import shlex

    import yaml

    from conftest import ROOT

    words = shlex.split(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["robustness"]["cmd"])
    assert words[:2] == ["python", "stages/robustness.py"]
    return words[2:]


def robustness_argument(name: str) -> str:
    argv = robustness_argv()
    return argv[argv.index(name) + 1]


@pytest.fixture
def robustness_workdir(tmp_path, monkeypatch):
    """Inputs where dvc.yaml's command expects them: the pixel-sum ONNX model (a blank image is a 0,
    any ink a 9), clean splits of blank images, a suite where one corruption inks the 9s and one inks
    everything, and clean predictions that the model would not give (so they can only come from the file)."""
    import yaml

    from mnistflow.evaluation import evaluate
    from tiny_onnx import write_pixel_sum_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"robustness": {"batch_size": 3, "example_index": 1}}))
    (tmp_path / "models").mkdir()
    write_pixel_sum_model(tmp_path / robustness_argument("--model"))
    labels = np.array([0, 9, 0, 9, 9], np.uint8)
    blank = np.zeros((5, 28, 28), np.uint8)
    inked = np.where(labels[:, None, None] == 9, blank + 255, blank).astype(np.uint8)
    for split in ("test", "val"):
        arrays.save_split(robustness_argument(f"--{split}"), blank, labels)
    arrays.save_suite(robustness_argument("--suite"), {"ink_nines": inked, "ink_all": np.full_like(blank, 255)}, labels)
    arrays.save_suite(robustness_argument("--val-suite"), {"ink_nines": inked, "ink_all": np.full_like(blank, 255)}, labels)
    predictions = pathlib.Path(robustness_argument("--predictions"))
    predictions.parent.mkdir(parents=True)
    evaluate.save_predictions(predictions, {"test": np.array([0, 9, 9, 9, 9], np.uint8), "val": np.zeros(5, np.uint8)})
    return tmp_path


def run_robustness_stage(capsys) -> tuple[int, str]:
    from mnistflow.core import cli
    from stage_scripts import load_stage

    status = cli.run(load_stage("robustness").main, robustness_argv())
    return status, capsys.readouterr().err


def test_robustness_stage_scores_the_suite_with_the_onnx_model_and_takes_clean_accuracy_from_evaluate(robustness_workdir, capsys):
    import json

    status, err = run_robustness_stage(capsys)
    assert status == 0, err
    test = json.loads((robustness_workdir / robustness_argument("--metrics")).read_text())
    val = json.loads((robustness_workdir / robustness_argument("--val-metrics")).read_text())
    assert test == {"clean_accuracy": 0.8, "mean_corrupted_accuracy": 0.8, "worst_corruption": "ink_all", "worst_accuracy": 0.6,
                    "accuracy": {"ink_nines": 1.0, "ink_all": 0.6}}
    assert val["clean_accuracy"] == 0.4  # the evaluate stage's predictions: all zeros
    assert (robustness_workdir / robustness_argument("--plot-data")).read_text().splitlines()[1] == "clean,0.8000"


def test_robustness_stage_rejects_clean_predictions_of_another_length_saying_which_stage_to_run(robustness_workdir, capsys):
    from mnistflow.evaluation import evaluate

    evaluate.save_predictions(robustness_argument("--predictions"), {"test": np.zeros(4, np.uint8), "val": np.zeros(5, np.uint8)})
    status, err = run_robustness_stage(capsys)
    assert status == 1
    assert err.splitlines()[-1] == (
        "error: data/predictions/clean.npz: expected 'test' predictions, uint8 (5,); got uint8 (4,); run the evaluate stage (dvc repro evaluate)"
    )
    assert not (robustness_workdir / robustness_argument("--metrics")).exists()


def test_load_predictions_reports_a_missing_file_with_the_stage_that_writes_it(tmp_path):
    from mnistflow.evaluation import evaluate

    with pytest.raises(FileNotFoundError, match=r"clean\.npz: no such file; run the evaluate stage \(dvc repro evaluate\)$"):
        evaluate.load_predictions(tmp_path / "clean.npz", {"test": 3})
