"""End to end: a baseline stage through real `dvc repro` in a temporary copy of the project."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e


def test_dvc_repro_runs_one_baseline_apart_from_the_cnn_and_an_empty_list_switches_them_all_off(project, tiny_csvs):
    train, test = tiny_csvs  # 30 and 10 images per digit; 27 per digit left for training after val
    project.env["OPENBLAS_NUM_THREADS"] = "1"  # tiny arrays: BLAS threads only spin on a busy machine
    project.set_params({
        "fetch": {"source": "local", "local": {"train": str(train), "test": str(test)}},
        "baselines": {"enabled": ["sgd", "knn"], "n_jobs": 1, "cv": {"folds": 2, "max_samples": 100}},
    })
    project.commit("tiny data and params")

    ran = project.dvc("repro", "baseline@sgd").stdout
    assert [line for line in ran.splitlines() if line.startswith("Running stage")] == [
        "Running stage 'fetch':", "Running stage 'preprocess':", "Running stage 'baseline@sgd':",
    ]

    metrics = json.loads((project.root / "metrics" / "baselines" / "sgd.json").read_text())
    assert (metrics["train_samples"], metrics["cv_samples"], metrics["cv_folds"]) == (270, 100, 2)
    assert (project.root / "models" / "baselines" / "sgd.joblib").is_file()
    assert not (project.root / "metrics" / "baselines" / "knn.json").exists()  # only the stage asked for ran
    # Detail, not declared: shown when named (the headline file is the one declared metric).
    shown = project.dvc("metrics", "show", "metrics/baselines/sgd.json").stdout
    assert "metrics/baselines/sgd.json" in shown and "cv_accuracy_mean" in shown

    # A knn hyperparameter is a dependency of baseline@knn only.
    project.set_params({"baselines": {"models": {"knn": {"n_neighbors": 1}}}})
    assert project.dvc("status", "baseline@sgd").stdout.strip() == "Data and pipelines are up to date."

    # The CNN does not wait for the baselines; train_data: balanced fits them on oversample's output.
    assert "baseline" not in project.dvc("dag", "train").stdout
    assert "oversample" not in project.dvc("dag", "baseline@sgd").stdout
    project.set_params({"baselines": {"train_data": "balanced"}})
    assert "oversample" in project.dvc("dag", "baseline@sgd").stdout

    project.set_params({"baselines": {"enabled": []}})
    stages = project.dvc("stage", "list").stdout
    assert "baseline@" not in stages and "compare" in stages
