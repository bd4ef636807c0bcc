"""End to end: corrupt, ood, train, evaluate and robustness with real DVC on tiny data; a param
change shows in `dvc metrics diff` as robustness and calibration figures."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tiny
from PIL import Image


@pytest.mark.e2e
def test_robustness_and_calibration_figures_follow_a_param_change(project, tiny_csvs):
    train_csv, test_csv = tiny_csvs
    project.set_params({
        **tiny.local_source(train_csv, test_csv),
        **tiny.TINY,
        "corrupt": {"corruptions": ["brightness", "fog", "zigzag"]},
    })
    project.commit("tiny params")
    result = project.dvc("repro", "robustness", "evaluate")
    assert "Running stage 'corrupt'" in result.stdout and "Running stage 'ood'" in result.stdout
    robustness = json.loads((project.root / "metrics/robustness.json").read_text())
    assert list(robustness["accuracy"]) == ["brightness", "fog", "zigzag"]
    assert robustness["mean_corrupted_accuracy"] == pytest.approx(np.mean(list(robustness["accuracy"].values())), abs=1e-6)
    assert robustness["worst_accuracy"] == min(robustness["accuracy"].values())
    clean = json.loads((project.root / "metrics/evaluate.json").read_text())
    assert robustness["clean_accuracy"] == pytest.approx(clean["accuracy"], abs=1e-6)  # one model, two stages agree
    card = json.loads((project.root / "models/model.json").read_text())
    assert clean["calibration"]["temperature"] == card["temperature"] > 0
    assert clean["ood"]["ood_images"] == 50 and clean["ood"]["unsure_threshold"] == card["unsure_threshold"]
    rows = (project.root / "plots/robustness/accuracy.csv").read_text().splitlines()
    assert rows[0] == "corruption,accuracy" and [row.split(",")[0] for row in rows[1:]] == ["clean", "brightness", "fog", "zigzag"]
    with Image.open(project.root / "plots/robustness/examples.png") as image:
        assert image.format == "PNG"
    project.commit("baseline")

    run = project.dvc("exp", "run", "robustness", "evaluate", "-S", "train.epochs=4")
    assert "Running stage 'corrupt'" not in run.stdout  # a new model never regenerates the suite
    diff = json.loads(project.dvc(
        "metrics", "diff", "main", "--json", "--targets", "metrics/robustness.json", "metrics/evaluate.json",
    ).stdout)
    assert "mean_corrupted_accuracy" in diff["metrics/robustness.json"]
    assert {"calibration.ece", "calibration.temperature"} <= set(diff["metrics/evaluate.json"])
