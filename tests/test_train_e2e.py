"""End to end: real `dvc repro` and `dvc exp run` through oversample and train in a temporary repo."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import yaml

TINY_TRAIN = {
    "epochs": 1,
    "batch_size": 32,
    "model": {"blocks": [{"filters": 4, "pool": True}], "dense_units": 0},
    "augment": {"rotation": 0, "zoom": 0, "translation": 0},
}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def val_accuracy(root) -> float:
    """Accuracy of models/model.keras on data/prepared/val.npz, from its own predictions."""
    import keras

    from mnistflow.core import arrays

    model = keras.models.load_model(root / "models/model.keras", compile=False)
    images, labels = arrays.load_split(root / "data/prepared/val.npz")
    probabilities = model.predict(arrays.to_model_input(images), batch_size=1000, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


@pytest.mark.e2e
def test_repro_then_exp_run_tracks_an_experiment_and_never_touches_val_or_test(project, tiny_csvs):
    train_csv, test_csv = tiny_csvs
    project.set_params({
        "fetch": {"source": "local", "local": {"train": str(train_csv), "test": str(test_csv)}},
        "preprocess": {"class_fraction": {3: 0.3}},  # digit 3 rare in train: oversampling brings it back
        "oversample": {"method": "random"},
        "train": TINY_TRAIN,
    })
    project.commit("tiny params")

    result = project.dvc("repro", "train")  # fetch, preprocess, oversample, train (export is not ours)
    assert "epoch 1/1:" in result.stdout + result.stderr
    counts = {tuple(row.split(",")[:2]): int(row.split(",")[2])
              for row in (project.root / "plots/oversample/class_counts.csv").read_text().splitlines()[1:]}
    assert counts[("3", "before")] < counts[("0", "before")]
    assert {counts[(str(digit), "after")] for digit in range(10)} == {max(counts.values())}
    metrics = json.loads((project.root / "metrics/train/metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["best_epoch"] == 1
    # The validation accuracy reported is the saved model's, recomputed here from its predictions.
    assert metrics["best_val_accuracy"] == pytest.approx(val_accuracy(project.root), abs=1e-6)
    assert not (project.root / ".cache/train/checkpoint.npz").exists()  # deleted after success
    prepared = project.root / "data" / "prepared"
    untouched = {name: sha256(prepared / name) for name in ("train.npz", "val.npz", "test.npz")}
    project.commit("baseline")

    run = project.dvc("exp", "run", "train", "-S", "oversample.method=smote", "-S", "oversample.k_neighbors=2",
                      "-S", "train.epochs=2", "-n", "smote-two-epochs")
    assert "Running stage 'oversample'" in run.stdout and "Running stage 'preprocess'" not in run.stdout
    assert {name: sha256(prepared / name) for name in untouched} == untouched  # never resampled, never rewritten
    shown = json.loads(project.dvc("exp", "show", "--json").stdout)
    experiments = [exp for rev in shown for exp in (rev.get("experiments") or [])]
    [experiment] = [exp for exp in experiments if exp.get("name") == "smote-two-epochs"]
    data = experiment["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["train"]["epochs"] == 2
    assert "metrics/train/metrics.json" not in data["metrics"]  # training detail: committed, not declared
    committed = project.run("git", "show", f"{experiment['revs'][0]['rev']}:metrics/train/metrics.json").stdout
    assert json.loads(committed)["epochs_run"] == 2

    stages = yaml.safe_load((project.root / "dvc.yaml").read_text())["stages"]
    assert not any("val" in dep or "test" in dep for dep in stages["oversample"]["deps"])
    assert not any("test" in dep for dep in stages["train"]["deps"])
