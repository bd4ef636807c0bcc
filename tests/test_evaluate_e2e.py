"""End to end: the whole pipeline on tiny data, an experiment, and the review loop on top of it."""
from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import tiny
import yaml


def correct_on_test_split(root) -> np.ndarray:
    """Whether models/model.keras classifies each image of data/prepared/test.npz right (its own predictions)."""
    import keras

    from mnistflow.core import arrays

    model = keras.models.load_model(root / "models/model.keras", compile=False)
    images, labels = arrays.load_split(root / "data/prepared/test.npz")
    probabilities = model.predict(arrays.to_model_input(images), batch_size=tiny.TINY["evaluate"]["batch_size"], verbose=0)
    return np.argmax(probabilities, axis=1) == labels


@pytest.mark.e2e
def test_exp_run_shows_in_metrics_diff_plots_diff_and_make_report(project, tiny_csvs):
    train_csv, test_csv = tiny_csvs
    project.set_params({**tiny.local_source(train_csv, test_csv), **tiny.TINY})
    project.commit("tiny params")
    project.dvc("repro", "summary")  # fetch .. evaluate, summary; export and the baselines are not needed here
    baseline = json.loads((project.root / "metrics/evaluate.json").read_text())
    # What evaluate reports is the saved model's accuracy on the test split, recomputed here.
    correct = correct_on_test_split(project.root)
    assert (baseline["samples"], baseline["errors"]) == (100, int(np.sum(~correct)))
    assert baseline["accuracy"] == pytest.approx(np.mean(correct), abs=1e-6)
    assert json.loads((project.root / "metrics/evaluate_val.json").read_text())["samples"] == 60
    declared = [path for entry in yaml.safe_load((project.root / "dvc.yaml").read_text())["plots"]
                for path in ([entry] if isinstance(entry, str) else next(iter(entry.values()))["y"])]
    evaluate_plots = [path for path in declared if path.startswith("plots/evaluate/")]
    assert len(evaluate_plots) == 9
    for path in evaluate_plots:
        assert (project.root / path).is_file(), f"declared plot {path} was not written"
    with open(project.root / "plots/evaluate/roc.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 20
    project.commit("baseline")

    project.dvc("exp", "run", "summary", "-S", "train.epochs=4")
    headline = json.loads(project.dvc("metrics", "diff", "main", "--json").stdout)
    assert list(headline) == ["metrics/headline.json"]  # the one declared metrics file
    # The test metrics are detail: not declared, compared by naming them.
    diff = json.loads(project.dvc("metrics", "diff", "main", "--json", "--targets", "metrics/evaluate.json").stdout)
    changed = diff["metrics/evaluate.json"]
    assert {"log_loss", "accuracy"} <= set(changed)
    assert changed["accuracy"]["old"] == baseline["accuracy"]
    assert changed["accuracy"]["new"] > changed["accuracy"]["old"]  # three more epochs at a high rate learn more
    assert changed["accuracy"]["new"] == json.loads((project.root / "metrics/evaluate.json").read_text())["accuracy"]

    # make report runs dvc plots diff (HTML page) and writes the Markdown; -o: the venv is already set up
    result = project.run("make", "-o", ".venv/.installed", "report", "BASE=main")
    assert "report: report.md; plots page: dvc_plots/index.html" in result.stdout
    page = (project.root / "dvc_plots/index.html").read_text()
    assert "ROC one-vs-rest per digit, test set" in page and "main" in page
    report = (project.root / "report.md").read_text()
    assert re.search(r"\| params\.yaml +\| train\.epochs +\| 1 +\| 4 +\|", report)
    old, new = changed["accuracy"]["old"], changed["accuracy"]["new"]
    assert f"| test accuracy | {old:.4f} | {new:.4f} | {new - old:+.4f} |" in report
    assert "| metrics/evaluate.json | log_loss |" in report
    assert "| metrics/headline.json | test_acc |" in report and "| metrics/train/metrics.json | train.loss |" in report
