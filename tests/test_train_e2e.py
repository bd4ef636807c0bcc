"""End to end: real `dvc repro` and `dvc exp run` of the oversample and train stages in a temporary repo."""
from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from mnistflow import arrays
from synthetic import make_digits

TINY_TRAIN = {
    "epochs": 1,
    "batch_size": 32,
    "model": {"blocks": [{"filters": 4, "pool": True}], "dense_units": 0},
    "augment": {"rotation": 0, "zoom": 0, "translation": 0},
}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.e2e
def test_repro_then_exp_run_tracks_an_experiment_and_never_touches_val_or_test(project):
    images, labels = make_digits(6, seed=1)
    keep = labels != 3  # digit 3 under-represented: oversampling must bring it back
    keep[[i for i, digit in enumerate(labels) if digit == 3][:2]] = True
    prepared = project.root / "data" / "prepared"
    arrays.save_split(prepared / "train.npz", images[keep], labels[keep])
    arrays.save_split(prepared / "val.npz", *make_digits(2, seed=2))
    arrays.save_split(prepared / "test.npz", *make_digits(2, seed=3))
    untouched = {name: sha256(prepared / name) for name in ("val.npz", "test.npz")}
    project.set_params({"oversample": {"method": "random"}, "train": TINY_TRAIN})
    project.commit("tiny params")

    result = project.dvc("repro", "oversample", "train")
    assert "epoch 1/1:" in result.stdout + result.stderr
    counts = (project.root / "plots/oversample/class_counts.csv").read_text().splitlines()
    assert "3,before,2" in counts and "3,after,6" in counts
    metrics = json.loads((project.root / "metrics/train/metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and 0 <= metrics["best_val_accuracy"] <= 1
    assert (project.root / "models/model.keras").is_file()
    assert not (project.root / ".cache/train/checkpoint.npz").exists()  # deleted after success
    project.commit("baseline")

    project.dvc("exp", "run", "train", "-S", "train.epochs=2", "-n", "two-epochs")
    shown = json.loads(project.dvc("exp", "show", "--json").stdout)
    experiments = [exp for rev in shown for exp in (rev.get("experiments") or [])]
    two = [exp for exp in experiments if exp.get("name") == "two-epochs"]
    assert len(two) == 1
    data = two[0]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["train"]["epochs"] == 2
    assert data["metrics"]["metrics/train/metrics.json"]["data"]["epochs_run"] == 2

    assert {name: sha256(prepared / name) for name in untouched} == untouched
    stages = yaml.safe_load((project.root / "dvc.yaml").read_text())["stages"]
    assert not any("val" in str(dep) or "test" in str(dep) for dep in stages["oversample"]["deps"])
    assert not any("test" in str(dep) for dep in stages["train"]["deps"])
