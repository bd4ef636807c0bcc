"""The headline figures: the summary function on tiny literal metrics, the stage, and dvc.yaml's declaration."""
from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest
import yaml

from mnistflow.core import cli
from mnistflow.evaluation import summary

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEST = {"accuracy": 0.95, "errors": 5, "f1_macro": 0.9487, "samples": 100, "per_digit": {"0": {"f1": 1.0}}}
VAL = {"accuracy": 0.9333, "errors": 4, "f1_macro": 0.93, "samples": 60}
CALIBRATED = {**TEST, "calibration": {"ece": 0.0123, "brier": 0.08, "log_loss": 0.2, "temperature": 1.4}}
ROBUSTNESS = {"clean_accuracy": 0.95, "mean_corrupted_accuracy": 0.81, "worst_corruption": "blur",
              "worst_accuracy": 0.6, "accuracy": {"blur": 0.6, "noise": 1.02}}


def load_stage():
    spec = importlib.util.spec_from_file_location("summary_stage", ROOT / "stages" / "summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_headline_keeps_four_figures_in_column_order_without_calibration_or_robustness():
    figures = summary.headline(test=TEST, val=VAL)
    assert list(figures.items()) == [("test_acc", 0.95), ("test_errors", 5), ("test_f1", 0.9487), ("val_acc", 0.9333)]


def test_headline_adds_test_ece_when_evaluate_wrote_calibration():
    figures = summary.headline(test=CALIBRATED, val=VAL)
    assert list(figures) == ["test_acc", "test_errors", "test_f1", "test_ece", "val_acc"]
    assert figures["test_ece"] == 0.0123


def test_headline_adds_mean_corrupted_accuracy_when_robustness_metrics_are_given():
    figures = summary.headline(test=CALIBRATED, val=VAL, robustness=ROBUSTNESS)
    assert figures == {"test_acc": 0.95, "test_errors": 5, "test_f1": 0.9487, "test_ece": 0.0123,
                       "val_acc": 0.9333, "corrupted_acc": 0.81}
    assert list(figures)[-1] == "corrupted_acc"


def test_headline_rejects_test_metrics_without_accuracy_naming_the_key():
    with pytest.raises(ValueError, match=r"the test metrics have no 'accuracy' \(needed for test_acc\): re-run"):
        summary.headline(test={"errors": 5, "f1_macro": 0.9}, val=VAL)


def test_headline_rejects_calibration_without_ece():
    with pytest.raises(ValueError, match=r"the test metrics have no 'calibration.ece' \(needed for test_ece\)"):
        summary.headline(test={**TEST, "calibration": {"brier": 0.1}}, val=VAL)


def test_headline_rejects_robustness_metrics_without_the_mean():
    with pytest.raises(ValueError, match=r"the robustness metrics have no 'mean_corrupted_accuracy'"):
        summary.headline(test=TEST, val=VAL, robustness={"clean_accuracy": 0.95})


@pytest.mark.parametrize("value", [None, "0.95", True])
def test_headline_rejects_a_figure_that_is_not_a_number(value):
    with pytest.raises(ValueError, match=r"the val metrics' 'accuracy' must be a number; got "):
        summary.headline(test=TEST, val={**VAL, "accuracy": value})


def test_summary_stage_writes_the_headline_in_column_order(tmp_path):
    (tmp_path / "evaluate.json").write_text(json.dumps(CALIBRATED))
    (tmp_path / "evaluate_val.json").write_text(json.dumps(VAL))
    (tmp_path / "robustness.json").write_text(json.dumps(ROBUSTNESS))
    out = tmp_path / "metrics" / "headline.json"
    status = cli.run(load_stage().main, [
        "--test-metrics", str(tmp_path / "evaluate.json"), "--val-metrics", str(tmp_path / "evaluate_val.json"),
        "--robustness", str(tmp_path / "robustness.json"), "--out", str(out),
    ])
    assert status == 0
    assert list(json.loads(out.read_text())) == ["test_acc", "test_errors", "test_f1", "test_ece", "val_acc", "corrupted_acc"]


def test_summary_stage_fails_in_one_line_when_the_evaluate_metrics_are_missing(tmp_path, capsys):
    (tmp_path / "evaluate_val.json").write_text(json.dumps(VAL))
    out = tmp_path / "headline.json"
    status = cli.run(load_stage().main, [
        "--test-metrics", str(tmp_path / "evaluate.json"), "--val-metrics", str(tmp_path / "evaluate_val.json"),
        "--out", str(out),
    ])
    assert status == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {tmp_path / 'evaluate.json'}: no such file; run `dvc repro evaluate` first"
    )
    assert not out.exists()


def test_summary_stage_names_the_files_it_read_when_a_figure_is_missing(tmp_path, capsys):
    (tmp_path / "evaluate.json").write_text(json.dumps({"errors": 5}))
    (tmp_path / "evaluate_val.json").write_text(json.dumps(VAL))
    status = cli.run(load_stage().main, [
        "--test-metrics", str(tmp_path / "evaluate.json"), "--val-metrics", str(tmp_path / "evaluate_val.json"),
        "--out", str(tmp_path / "headline.json"),
    ])
    assert status == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("error: the test metrics have no 'accuracy'") and str(tmp_path / "evaluate.json") in last


def declared_metrics(dvc_yaml: dict) -> list[str]:
    """Every metrics file dvc.yaml declares: each stage's (foreach templates included) and the top level's."""
    paths = [entry if isinstance(entry, str) else next(iter(entry)) for entry in dvc_yaml.get("metrics") or []]
    for stage in dvc_yaml["stages"].values():
        stage = stage.get("do", stage)
        paths += [entry if isinstance(entry, str) else next(iter(entry)) for entry in stage.get("metrics") or []]
    return paths


def test_the_headline_file_is_the_only_declared_metrics_file_and_the_summary_stage_writes_it():
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert declared_metrics(dvc_yaml) == ["metrics/headline.json"]
    summary_stage = dvc_yaml["stages"]["summary"]
    assert "--robustness metrics/robustness.json --out metrics/headline.json" in summary_stage["cmd"]
    assert {"metrics/evaluate.json", "metrics/evaluate_val.json", "metrics/robustness.json"} <= set(summary_stage["deps"])
    assert dvc_yaml["stages"]["summary"]["metrics"] == [{"metrics/headline.json": {"cache": False}}]


def test_detail_metrics_files_stay_in_git_as_uncached_outputs():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    uncached = {next(iter(out)) for stage in stages.values() for out in stage.get("do", stage).get("outs", [])
                if isinstance(out, dict) and next(iter(out.values())).get("cache") is False}
    assert {"metrics/evaluate.json", "metrics/evaluate_val.json", "metrics/robustness.json", "metrics/robustness_val.json",
            "metrics/baselines/${item}.json", "metrics/train"} <= uncached
