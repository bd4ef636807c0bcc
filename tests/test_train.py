from __future__ import annotations

import json
import logging
import os
import pathlib

import numpy as np
import pytest

from mnistflow.core import arrays, params
from mnistflow.training.config import TrainParams
from mnistflow.training.train import epoch_order
from stage_scripts import load_stage  # tests/stage_scripts.py
from synthetic import make_digits

TINY = {
    "epochs": 3,
    "batch_size": 16,
    "learning_rate": 0.01,
    "model": {"blocks": [{"filters": 4, "norm": True, "pool": True, "dropout": 0.1}], "dense_units": 8, "dropout": 0.2},
    "augment": {"rotation": 10, "zoom": 0.1, "translation": 0.1},
}


TINY_FINGERPRINT = {"params": "tiny", "data": "tiny", "code": {"train.py": "tiny"}}


class Interrupted(Exception):
    """Stands in for the kill: raised right after the checkpoint of an epoch is written."""


def train_tiny(tmp_path: pathlib.Path, name: str, *, section=TINY, train=None, interrupt_after: int | None = None,
               monkeypatch=None):
    import keras
    import tensorflow as tf

    from mnistflow.training import resume, train as training

    config = params.parse(TrainParams, section, key="train")
    if interrupt_after is not None:
        save = resume.Checkpoint.on_epoch_end

        def save_then_die(self, epoch, logs=None):
            save(self, epoch, logs)
            if epoch + 1 == interrupt_after:
                raise Interrupted

        monkeypatch.setattr(resume.Checkpoint, "on_epoch_end", save_then_die)
    keras.utils.set_random_seed(3)
    tf.config.experimental.enable_op_determinism()
    model, summary = training.train_model(
        train or make_digits(8, seed=1), make_digits(3, seed=2), config=config, seed=3,
        live_dir=str(tmp_path / name / "live"), checkpoint_path=str(tmp_path / "checkpoint.npz"), fingerprint=TINY_FINGERPRINT,
    )
    return model, summary, tmp_path / name / "live"


def live_metrics(live: pathlib.Path) -> dict:
    """metrics.json, which holds no wall-clock figures (they would differ between identical runs)."""
    return json.loads((live / "metrics.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    monkey = pytest.MonkeyPatch()
    monkey.chdir(tmp_path)  # dvclive looks for a DVC repository from the working directory
    try:
        model, summary, live = train_tiny(tmp_path, "run")
    finally:
        monkey.undo()
    return model.get_weights(), summary, live


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert epoch_order(6, seed=1, epoch=2).tolist() == epoch_order(6, seed=1, epoch=2).tolist()
    assert sorted(epoch_order(6, seed=1, epoch=2).tolist()) == [0, 1, 2, 3, 4, 5]
    assert epoch_order(50, seed=1, epoch=2).tolist() != epoch_order(50, seed=1, epoch=3).tolist()


def test_train_model_trains_one_epoch_on_64_tiny_images_logging_one_line_per_epoch(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    images, labels = make_digits(8, seed=5)
    caplog.set_level(logging.INFO, logger="mnistflow")
    model, summary, live = train_tiny(tmp_path, "one", section={**TINY, "epochs": 1}, train=(images[:64], labels[:64]))
    assert model(arrays.to_model_input(images[:2])).shape == (2, 10)
    assert summary["epochs_run"] == 1 and summary["best_epoch"] == 1
    assert [r.message.split(":")[0] for r in caplog.records if r.message.startswith("epoch ")] == ["epoch 1/1"]
    assert (live / "plots" / "metrics" / "eval" / "accuracy.tsv").read_text().splitlines()[0] == "step\taccuracy"
    written = json.loads((live / "metrics.json").read_text())
    assert set(written["train"]) == {"loss", "accuracy", "learning_rate"}  # no epoch_seconds: a time
    assert "train_seconds" not in written and not (live / "plots" / "metrics" / "train" / "epoch_seconds.tsv").exists()
    assert summary["train_seconds"] == pytest.approx(sum(summary["epoch_seconds"])) and len(summary["epoch_seconds"]) == 1


def test_train_model_twice_with_the_same_seed_gives_identical_metrics_and_weights(tmp_path, monkeypatch, uninterrupted):
    monkeypatch.chdir(tmp_path)
    weights, summary, live = uninterrupted
    model, again, live_again = train_tiny(tmp_path, "again")
    assert live_metrics(live_again) == live_metrics(live)
    assert again["best_val_accuracy"] == summary["best_val_accuracy"]
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights, strict=True))


@pytest.mark.parametrize("interrupt_after", [1, 3])  # 3: killed after the last epoch, before the model was saved
def test_train_model_resumed_after_an_interruption_ends_exactly_like_an_uninterrupted_run(tmp_path, monkeypatch, uninterrupted,
                                                                                           interrupt_after):
    monkeypatch.chdir(tmp_path)
    weights, summary, live = uninterrupted
    with pytest.raises(Interrupted):
        train_tiny(tmp_path, "resumed", interrupt_after=interrupt_after, monkeypatch=monkeypatch)
    assert (tmp_path / "checkpoint.npz").is_file()
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    model, resumed, resumed_live = train_tiny(tmp_path, "resumed")
    assert resumed["epochs_run"] == 3 and resumed["best_epoch"] == summary["best_epoch"]
    assert live_metrics(resumed_live) == live_metrics(live)
    for name in ("train/loss.tsv", "eval/accuracy.tsv"):
        assert (resumed_live / "plots/metrics" / name).read_text() == (live / "plots/metrics" / name).read_text()
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights, strict=True))


def test_train_model_resumed_keeps_the_plateau_and_early_stopping_counters(tmp_path, monkeypatch):
    # A rate high enough to plateau: the rate is cut, then training stops, both counted across the resume.
    section = {**TINY, "epochs": 5, "learning_rate": 0.05, "schedule": "plateau", "plateau_patience": 1,
               "early_stopping_patience": 2, "best_by": "val_accuracy"}
    monkeypatch.chdir(tmp_path)
    model, summary, live = train_tiny(tmp_path / "one", "run", section=section)
    weights = model.get_weights()
    rates = [line.split("\t")[1] for line in (live / "plots/metrics/train/learning_rate.tsv").read_text().splitlines()[1:]]
    assert summary["epochs_run"] < 5 and len(set(rates)) > 1, (summary, rates)  # it did stop early, and cut the rate
    with pytest.raises(Interrupted):
        train_tiny(tmp_path / "two", "run", section=section, interrupt_after=2, monkeypatch=monkeypatch)
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    model, resumed, resumed_live = train_tiny(tmp_path / "two", "run", section=section)
    assert resumed["epochs_run"] == summary["epochs_run"] and resumed["best_epoch"] == summary["best_epoch"]
    assert live_metrics(resumed_live) == live_metrics(live)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights, strict=True))


def test_resume_load_ignores_a_checkpoint_written_for_other_params_or_code_saying_which(tmp_path, caplog):
    from mnistflow.training import resume

    caplog.set_level(logging.INFO, logger="mnistflow")
    path = tmp_path / "checkpoint.npz"
    old = {"params": "p", "data": "d", "code": {"a.py": "1", "b.py": "2"}}
    np.savez(path, record=np.array(json.dumps({"fingerprint": old})))
    assert resume.load(path, fingerprint={**old, "params": "q"}) is None
    assert resume.load(path, fingerprint={**old, "code": {"a.py": "1", "b.py": "3", "c.py": "4"}}) is None
    assert resume.load(tmp_path / "missing.npz", fingerprint=old) is None
    assert [record.message for record in caplog.records] == [
        f"not resuming from {path}: it was written for other params; starting from epoch 1",
        f"not resuming from {path}: the training code changed since it was written (b.py, c.py); starting from epoch 1",
    ]


def test_resume_fingerprint_names_each_code_file_and_changes_with_its_bytes(tmp_path, monkeypatch):
    from mnistflow.training import resume

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("B = 2\n")
    (tmp_path / "pkg" / "notes.txt").write_text("not code\n")
    (tmp_path / "stage.py").write_text("")
    files = resume.python_files("stage.py", "pkg")
    assert [str(file) for file in files] == ["pkg/a.py", "pkg/sub/b.py", "stage.py"]
    before = resume.fingerprint(params={"epochs": 1}, code=files)
    (tmp_path / "pkg" / "sub" / "b.py").write_text("B = 3\n")
    after = resume.fingerprint(params={"epochs": 1}, code=files)
    assert sorted(after["code"]) == ["pkg/a.py", "pkg/sub/b.py", "stage.py"]
    assert [name for name in after["code"] if after["code"][name] != before["code"][name]] == ["pkg/sub/b.py"]
    assert after["params"] == before["params"] != resume.fingerprint(params={"epochs": 2})["params"]


# Kills the train stage (os._exit: no clean-up, as a kill) right after it checkpoints epoch argv[1];
# the rest of argv is the stage's.
KILL_AFTER_EPOCH = """
import os, runpy, sys
from mnistflow.training import resume
save, kill_after = resume.Checkpoint.on_epoch_end, int(sys.argv[1])
def save_then_die(self, epoch, logs=None):
    save(self, epoch, logs)
    if epoch + 1 == kill_after:
        os._exit(9)
resume.Checkpoint.on_epoch_end = save_then_die
sys.argv = ["stages/train.py", *sys.argv[2:]]
runpy.run_path("stages/train.py", run_name="__main__")
"""


def test_train_stage_killed_then_rerun_after_a_code_edit_starts_again_from_epoch_1(tmp_path):
    import shutil
    import subprocess
    import sys

    import yaml

    root = pathlib.Path(__file__).resolve().parent.parent
    shutil.copytree(root / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (tmp_path / "stages").mkdir()
    shutil.copy(root / "stages" / "train.py", tmp_path / "stages" / "train.py")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 1, "train": {**TINY, "epochs": 3}}))
    arrays.save_split(tmp_path / "train.npz", *make_digits(3, seed=1))
    arrays.save_split(tmp_path / "val.npz", *make_digits(1, seed=2))
    stage = ["--params", "params.yaml", "--train", "train.npz", "--val", "val.npz", "--model", "model.keras", "--card", "model.json",
             "--live", "live", "--checkpoint", "checkpoint.npz", "--run-log", "run.json"]
    environment = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def run(*args: str) -> list[str]:
        """The epochs the run trained, and its resume log lines."""
        result = subprocess.run([sys.executable, *args], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
        messages = [line.split(": ", 1)[1] for line in result.stderr.splitlines() if ": " in line]
        return [message.split(":")[0] if message.startswith("epoch ") else message
                for message in messages if message.startswith(("epoch ", "resuming", "not resuming"))]

    assert run("-c", KILL_AFTER_EPOCH, "1", *stage) == ["epoch 1/3"]
    assert run("-c", KILL_AFTER_EPOCH, "2", *stage) == ["resuming after epoch 1 of a previous run", "epoch 2/3"]
    with open(tmp_path / "src" / "mnistflow" / "training" / "model.py", "a") as module:
        module.write("# an edit\n")
    assert run("stages/train.py", *stage) == [
        "not resuming from checkpoint.npz: the training code changed since it was written (src/mnistflow/training/model.py); "
        "starting from epoch 1",
        "epoch 1/3", "epoch 2/3", "epoch 3/3",
    ]
    assert (tmp_path / "model.keras").is_file() and not (tmp_path / "checkpoint.npz").exists()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"epochs": -3}, r"^train\.epochs must be positive; got -3$"),
        ({"optimizer": "sgd"}, r"^train\.optimizer must be one of 'adam', 'adamw'; got 'sgd'$"),
        ({"schedule": "step"}, r"^train\.schedule must be one of 'none', 'cosine', 'one_cycle', 'plateau'; got 'step'$"),
        ({"label_smoothing": 1.0}, r"^train\.label_smoothing must be in \[0, 1\); got 1\.0$"),
        ({"early_stopping_patience": 0}, r"^train\.early_stopping_patience must be positive; got 0$"),
        ({"best_by": "test_accuracy"}, r"^train\.best_by must be one of 'val_loss', 'val_accuracy'; got 'test_accuracy'$"),
    ],
)
def test_train_params_reject_bad_values_naming_the_key(section, message):
    with pytest.raises(ValueError, match=message):
        params.parse(TrainParams, section, key="train")


def stage_args(tmp_path: pathlib.Path) -> list[str]:
    return [
        "--params", str(tmp_path / "params.yaml"), "--train", str(tmp_path / "balanced" / "train.npz"),
        "--val", str(tmp_path / "prepared" / "val.npz"), "--model", str(tmp_path / "model.keras"), "--card", str(tmp_path / "model.json"),
        "--live", str(tmp_path / "live"), "--checkpoint", str(tmp_path / "checkpoint.npz"),
    ]


def test_train_stage_fails_before_training_when_the_prepared_split_is_missing(tmp_path, capsys):
    from mnistflow.core import cli

    (tmp_path / "params.yaml").write_text("seed: 1\ntrain: {}\n")
    arrays.save_split(tmp_path / "balanced" / "train.npz", *make_digits(1, seed=0))
    assert cli.run(load_stage("train").main, stage_args(tmp_path)) == 1
    expected = f"error: {tmp_path / 'prepared' / 'val.npz'}: no such file; run the stage that writes it (dvc repro)\n"
    assert capsys.readouterr().err == expected
    assert not (tmp_path / "live").exists() and not (tmp_path / "model.keras").exists()


def test_train_stage_rejects_negative_epochs_before_reading_data(tmp_path, capsys):
    from mnistflow.core import cli

    (tmp_path / "params.yaml").write_text("seed: 1\ntrain:\n  epochs: -3\n")
    assert cli.run(load_stage("train").main, stage_args(tmp_path)) == 1
    assert capsys.readouterr().err == "error: train.epochs must be positive; got -3\n"


class WeightsOfEpoch:
    """Stands in for the model: its weights are the number of the epoch that just ended."""

    def __init__(self):
        self.epoch, self.stop_training = -1, False

    def get_weights(self):
        return [self.epoch]


LOGS = [{"val_loss": 0.60, "val_accuracy": 0.97}, {"val_loss": 0.55, "val_accuracy": 0.99},
        {"val_loss": 0.52, "val_accuracy": 0.98}, {"val_loss": 0.53, "val_accuracy": 0.99}]


@pytest.mark.parametrize(
    ("best_by", "kept"),
    [("val_loss", 2), ("val_accuracy", 1)],  # the lowest loss, the highest accuracy (the first on ties)
)
def test_keep_best_keeps_the_epoch_with_the_lowest_loss_or_the_highest_accuracy_and_never_stops(best_by, kept):
    from mnistflow.training.train import keep_best, kept_epoch

    callback, model = keep_best(TrainParams(epochs=4, best_by=best_by)), WeightsOfEpoch()
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, values in enumerate(LOGS):
        model.epoch = epoch
        callback.on_epoch_end(epoch, dict(values))
    assert callback.best_epoch == kept and callback.best_weights == [kept] and not model.stop_training
    assert kept_epoch(LOGS, best_by) == kept


def test_keep_best_by_val_loss_stops_after_patience_epochs_without_a_lower_loss():
    from mnistflow.training.train import keep_best

    callback, model = keep_best(TrainParams(epochs=9, early_stopping_patience=2)), WeightsOfEpoch()
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, loss in enumerate([0.5, 0.4, 0.45, 0.41]):
        model.epoch = epoch
        callback.on_epoch_end(epoch, {"val_loss": loss})
        assert model.stop_training is (epoch == 3)


def test_batches_add_the_outlier_share_with_a_uniform_target():
    from mnistflow.training.train import batches

    images, labels = make_digits(10, seed=0)
    first = next(iter(batches(images, labels, batch_size=20, seed=1, first_epoch=0, epochs=1, outlier_share=0.25)))
    batch_images, batch_labels = (part.numpy() for part in first)
    assert batch_images.shape == (25, 28, 28, 1)
    assert np.allclose(batch_labels[20:], 0.1) and (batch_labels[:20].max(axis=1) == 1).all()


def test_batches_are_each_epoch_s_shuffled_digits_then_their_outliers_with_a_short_last_batch():
    from mnistflow.core import not_digits
    from mnistflow.training.train import batches, epoch_order, outlier_count

    images, labels = make_digits(3, seed=0)  # 30 digits: batches of 8, 8, 8 and a short 6
    got = [tuple(part.numpy() for part in batch)
           for batch in batches(images, labels, batch_size=8, seed=4, first_epoch=1, epochs=3, outlier_share=0.25)]
    expected = []
    for epoch in (1, 2):  # the batches written out the slow way, one at a time
        order = epoch_order(30, seed=4, epoch=epoch)
        for start in range(0, 30, 8):
            rows = order[start:start + 8]
            extra = outlier_count(len(rows), 0.25)
            scrambled = not_digits.scrambled(images[rows[:extra]], np.random.default_rng([4, epoch, start]))
            targets = np.concatenate([np.eye(10)[labels[rows]], np.full((extra, 10), 0.1)])
            expected.append((np.concatenate([images[rows], scrambled])[..., np.newaxis].astype(np.float32), targets))
    assert [len(x) for x, _ in got] == [10, 10, 10, 8] * 2
    for (x, y), (want_x, want_y) in zip(got, expected, strict=True):
        assert x.dtype == np.float32 and np.array_equal(x, want_x)
        np.testing.assert_allclose(y, want_y, rtol=0, atol=1e-7)


def test_outlier_count_rounds_the_share_and_keeps_batches_divisible_by_the_replicas():
    from mnistflow.training.train import outlier_count

    assert outlier_count(128, 0.1) == 13
    assert outlier_count(128, 0.1, replicas=2) == 14  # 141 would split 71/70 over two replicas
    assert outlier_count(9, 0.1, replicas=4) == 3  # a last, short batch: 9 + 1 -> 12
    assert outlier_count(128, 0.0, replicas=2) == 0
