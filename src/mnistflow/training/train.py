"""What training does, top to bottom: the batches of each epoch (digits, then a share of not-digits),
the callbacks, the fit, the kept weights and the temperature built into the model to save.

    config = params.load_section("params.yaml", "train", TrainParams)   # (in the stage)
    model, summary = train_model((images, labels), (val_images, val_labels), config=config, seed=42,
                                 live_dir="metrics/train", checkpoint_path=".cache/train/checkpoint.npz",
                                 fingerprint=resume.fingerprint(...), replicas=1)

One epoch: `batches` lays out the epoch's shuffled digits (a pure function of seed and epoch),
each batch followed by `outlier_exposure` of its digits scrambled (`core.not_digits.scrambled`)
with a uniform target; `model.fit` trains on them and validates; then, in this order, EpochLog
logs one line, ReduceLROnPlateau (schedule: plateau) adjusts the rate, EarlyStopping notes the
best epoch by validation (`best_by`, never the test set, which training never sees) and may stop,
dvclive writes the epoch's figures, and `resume.Checkpoint` saves everything training depends on.
At the end EarlyStopping puts the best epoch's weights back, and `calibrated_copy` fits the
temperature on validation and builds it into a plain-Keras copy (model.py), the model to save.

Every epoch's batch order is a pure function of (seed, epoch), and all other state (weights,
optimizer slots, the random layers' seeds, the callbacks' counters) lives in variables or in the
checkpoint: so a run resumed after epoch k ends exactly where an uninterrupted one does.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from dvclive.keras import DVCLiveCallback

from mnistflow.core import arrays, calibration, not_digits, runlog
from mnistflow.training import resume
from mnistflow.training.config import TrainParams
from mnistflow.training.model import build_model, inference_copy

log = logging.getLogger(__name__)

ONE_CYCLE_START = 25  # one-cycle warm-up starts at learning_rate / 25 ...
ONE_CYCLE_END = 1e-4  # ... and anneals to learning_rate * 1e-4 (Smith's and fastai's defaults)


def train_model(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    config: TrainParams,
    seed: int,
    live_dir: str | None,
    checkpoint_path: str,
    fingerprint: dict[str, Any],
    replicas: int = 1,
    extra_callbacks: Sequence[Any] = (),
) -> tuple[Any, dict[str, Any]]:
    """Build, (resume,) fit and return the model to save, holding the best weights, plus a summary.

    The returned model is `model.inference_copy` of the trained one: plain Keras layers, no
    augmentation or optimizer, so the saved .keras file loads without this package.
    `replicas`: how many devices share each batch (distribute.replicas of the strategy in use).

    The summary's `*_seconds` figures (`train_seconds`, `epoch_seconds`) are wall-clock times: they
    are left out of the dvclive files, which git tracks (the train stage writes them to its run log).

    Logs per-epoch metrics with dvclive into `live_dir` (None: no dvclive files) and checkpoints
    every epoch to `checkpoint_path`, resuming from it when its fingerprint matches (the caller
    deletes it once the model is saved). `extra_callbacks` run after the built-in ones each epoch.
    """
    steps = steps_per_epoch(len(train[1]), config.batch_size)
    model = build_and_compile(config, steps_per_epoch=steps)
    state = resume.load(checkpoint_path, fingerprint=fingerprint)
    history = state["history"] if state else []
    live = _live(live_dir, history)
    log.info("training %d images (%d steps per epoch), validating on %d, from epoch %d to %d",
             len(train[1]), steps, len(validation[1]), len(history) + 1, config.epochs)
    if resume.finished(state, config.epochs):
        model.set_weights(state["best"])  # killed after its last epoch: the weights EarlyStopping had kept
        if live is not None:
            live.end()  # as dvclive's callback does when training ends (the step goes back to the last epoch's)
    else:
        watched = [keep_best(config)]
        if config.schedule == "plateau":
            watched.insert(0, keras.callbacks.ReduceLROnPlateau(
                monitor=config.best_by, mode=_mode(config.best_by), factor=config.plateau_factor,
                patience=config.plateau_patience, min_lr=config.learning_rate * 1e-3, verbose=0,
            ))
        callbacks = [EpochLog(config.epochs), *watched, *([LiveWithoutTimings(live=live)] if live else [])]
        # Last: it restores the others' counters after they reset, and saves what they have just updated.
        callbacks.append(resume.Checkpoint(checkpoint_path, fingerprint=fingerprint, state=state, watched=watched))
        data = batches(*train, batch_size=config.batch_size, seed=seed, first_epoch=len(history), epochs=config.epochs,
                       outlier_share=config.outlier_exposure, replicas=replicas)
        fitted = model.fit(
            data,
            epochs=config.epochs,
            initial_epoch=len(history),
            steps_per_epoch=steps,
            validation_data=(arrays.to_model_input(validation[0]), one_hot(validation[1])),
            validation_batch_size=1000,
            callbacks=[*callbacks, *extra_callbacks],
            shuffle=False,  # the pipeline already shuffles, per (seed, epoch)
            verbose=0,  # EpochLog logs one line per epoch instead of progress bars
        ).history
        history = history + [{name: float(values[epoch]) for name, values in fitted.items()}
                             for epoch in range(len(fitted[config.best_by]))]
    kept = kept_epoch(history, config.best_by)
    if len(history) < config.epochs:
        log.info("stopped early after epoch %d: no better %s since epoch %d", len(history), config.best_by, kept + 1)
    log.info("kept the weights of epoch %d (%s %.4f)", kept + 1, config.best_by, history[kept][config.best_by])
    model, calibrated = calibrated_copy(model, validation, config=config)
    epoch_seconds = [round(epoch.get("epoch_seconds", 0.0), 2) for epoch in history]
    summary = {
        "train_seconds": round(sum(epoch_seconds), 2),
        "epoch_seconds": epoch_seconds,
        "best_val_accuracy": history[kept].get("val_accuracy", math.nan),
        "best_val_loss": history[kept].get("val_loss", math.nan),
        "best_epoch": kept + 1,
        "epochs_run": len(history),
        **calibrated,
    }
    if live is not None:
        live.summary.update(runlog.split(summary)[0])  # timings go to the stage's run log instead
        live.make_summary()
    return model, summary


def keep_best(config: TrainParams) -> keras.callbacks.EarlyStopping:
    """Keras's EarlyStopping: keeps the weights of the first epoch with the best `best_by` and puts
    them back when training ends; stops after `early_stopping_patience` epochs without a better one
    (None: a patience of the run's length, which never stops it)."""
    return keras.callbacks.EarlyStopping(
        config.best_by, patience=config.early_stopping_patience or config.epochs, mode=_mode(config.best_by), restore_best_weights=True,
    )


def _mode(best_by: str) -> str:
    return "min" if best_by.endswith("loss") else "max"


def kept_epoch(history: list[dict[str, float]], best_by: str) -> int:
    """The epoch whose weights EarlyStopping keeps: the first with the lowest loss or the highest accuracy."""
    values = [epoch[best_by] for epoch in history]
    return values.index(min(values) if _mode(best_by) == "min" else max(values))


# --- the batches ---------------------------------------------------------------------------------

def steps_per_epoch(samples: int, batch_size: int) -> int:
    return math.ceil(samples / batch_size)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(arrays.NUM_CLASSES, dtype=np.float32)[labels]


def epoch_order(samples: int, *, seed: int, epoch: int) -> np.ndarray:
    """The shuffled sample order of one epoch: depends on (seed, epoch) only, so resuming replays it."""
    return np.random.default_rng([seed, epoch]).permutation(samples)


def outlier_count(digits: int, share: float, *, replicas: int = 1) -> int:
    """round(digits x share), raised to the next count that makes the whole batch divide by `replicas`
    (none when `share` is 0)."""
    if not share:
        return 0
    extra = round(digits * share)
    return extra + (-(digits + extra)) % replicas


def epoch_layout(
    images: np.ndarray, labels: np.ndarray, *, batch_size: int, seed: int, epoch: int, outlier_share: float = 0.0, replicas: int = 1,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One epoch's rows, batch after batch: uint8 images, int8 labels (-1: a scrambled not-digit,
    whose target is uniform), and the rows of a full batch. Every batch but the last is full, so
    cutting the rows into runs of that size gives the epoch's batches back."""
    order = epoch_order(len(labels), seed=seed, epoch=epoch)
    image_parts, label_parts = [], []
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        image_parts.append(images[rows])
        label_parts.append(labels[rows].astype(np.int8))
        extra = outlier_count(len(rows), outlier_share, replicas=replicas)
        if extra:
            image_parts.append(not_digits.scrambled(images[rows[:extra]], np.random.default_rng([seed, epoch, start])))
            label_parts.append(np.full(extra, -1, np.int8))
    full = min(batch_size, len(order)) + outlier_count(min(batch_size, len(order)), outlier_share, replicas=replicas)
    return np.concatenate(image_parts), np.concatenate(label_parts), full


def batches(
    images: np.ndarray, labels: np.ndarray, *, batch_size: int, seed: int, first_epoch: int, epochs: int,
    outlier_share: float = 0.0, replicas: int = 1,
):
    """A tf.data pipeline of (float32 images, one-hot labels) batches for epochs first_epoch..epochs-1;
    with `outlier_share`, each batch also holds that share of scrambled digits with a uniform target,
    rounded up so that each batch splits evenly over `replicas` devices.

    Every epoch is laid out in numpy first (`epoch_layout`, ~50 MB of uint8 an epoch of full MNIST)
    and sliced by tf.data: feeding batches from a Python generator instead made training 1.7x
    slower on two cores (docs/training.md, "Input pipeline").
    """
    if first_epoch >= epochs:
        raise ValueError(f"batches needs at least one epoch; got first_epoch {first_epoch} and epochs {epochs}")
    uniform = tf.fill((arrays.NUM_CLASSES,), 1 / arrays.NUM_CLASSES)

    def as_model_input(batch_images, batch_labels):
        targets = tf.where(batch_labels[:, tf.newaxis] < 0, uniform, tf.one_hot(tf.maximum(tf.cast(batch_labels, tf.int32), 0), arrays.NUM_CLASSES))
        return tf.cast(batch_images, tf.float32)[..., tf.newaxis], targets

    data = None
    for epoch in range(first_epoch, epochs):
        epoch_images, epoch_labels, full = epoch_layout(
            images, labels, batch_size=batch_size, seed=seed, epoch=epoch, outlier_share=outlier_share, replicas=replicas)
        part = tf.data.Dataset.from_tensor_slices((epoch_images, epoch_labels)).batch(full)
        data = part if data is None else data.concatenate(part)
    return data.map(as_model_input).prefetch(2)


# --- the model, its optimiser and loss -----------------------------------------------------------

def learning_rate(config: TrainParams, *, total_steps: int) -> Any:
    """A float (none, plateau) or a built-in Keras schedule (serialisable with the model)."""
    warmup_steps = int(config.warmup * total_steps)
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup_steps else config.learning_rate, decay_steps=max(total_steps - warmup_steps, 1),
            warmup_target=config.learning_rate if warmup_steps else None, warmup_steps=warmup_steps,
        )
    if config.schedule == "one_cycle":
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate / ONE_CYCLE_START, decay_steps=max(total_steps - warmup_steps, 1),
            alpha=ONE_CYCLE_END, warmup_target=config.learning_rate, warmup_steps=warmup_steps,
        )
    return config.learning_rate


def build_and_compile(config: TrainParams, *, steps_per_epoch: int):
    """The model from `config.model`/`config.augment`, compiled with its optimiser and loss.

    One function, so a caller can build everything inside a distribution strategy's scope.
    """
    model = build_model(config.model, config.augment, mixed_precision=config.mixed_precision, fused_batch_norm=True)
    rate = learning_rate(config, total_steps=config.epochs * steps_per_epoch)
    if config.optimizer == "adamw":
        # Decoupled decay of every weight, the normalisation layers' scales and shifts included.
        optimizer = keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(rate)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model



# --- the callbacks (Keras's own where one does the job) ------------------------------------------

class EpochLog(keras.callbacks.Callback):
    """Adds `learning_rate` and `epoch_seconds` to the epoch's logs and logs one line per epoch
    (custom: Keras's ProgbarLogger prints to stdout, not through `logging`)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        # The rate the optimiser has reached at the end of the epoch (schedules change it every step).
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs["epoch_seconds"] = time.perf_counter() - self._started
        log.info(
            "epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f lr %.2e (%.1f s)",
            epoch + 1, self.epochs, logs.get("loss", math.nan), logs.get("accuracy", math.nan),
            logs.get("val_loss", math.nan), logs.get("val_accuracy", math.nan),
            logs["learning_rate"], logs["epoch_seconds"],
        )


class LiveWithoutTimings(DVCLiveCallback):
    """dvclive's Keras callback, minus the epoch's `*_seconds` figures (custom: dvclive's files are
    tracked by git, and a time would change them on every identical re-run)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, runlog.split(logs or {})[0])


# --- after training: the temperature, and dvclive ------------------------------------------------

def calibrated_copy(trained: Any, validation: tuple[np.ndarray, np.ndarray], *, config: TrainParams) -> tuple[Any, dict[str, float]]:
    """The model to save (`inference_copy`) with its temperature built in, and its calibration figures.

    The temperature minimises the validation log loss; the unsure threshold is the top probability
    below which `config.unsure_rate` of the validation digits fall, after calibration.
    """
    images, labels = arrays.to_model_input(validation[0]), validation[1]
    temperature = 1.0
    if config.temperature_scaling:
        raw = trained.predict(images, batch_size=1000, verbose=0)
        temperature = round(calibration.fit_temperature(raw, labels), 4)
    shipped = inference_copy(trained, config.model, mixed_precision=config.mixed_precision, temperature=temperature)
    probabilities = shipped.predict(images, batch_size=1000, verbose=0)
    threshold = round(calibration.unsure_threshold(probabilities, rate=config.unsure_rate), 6)
    log.info("temperature %.4f; unsure below %.4f (%.1f%% of validation digits)", temperature, threshold, 100 * config.unsure_rate)
    return shipped, {"temperature": temperature, "unsure_threshold": threshold}


def _live(live_dir: str | None, history: list[dict[str, float]]) -> Any:
    """A dvclive Live writing to `live_dir`, with the epochs of `history` (a resumed run) re-logged."""
    if live_dir is None:
        return None
    from dvclive import Live
    from dvclive.utils import standardize_metric_name

    live = Live(live_dir, dvcyaml=False, save_dvc_exp=False, report=None)
    for logs in history:
        for name, value in runlog.split(logs)[0].items():
            live.log_metric(standardize_metric_name(name, "dvclive.keras"), value)
        live.next_step()
    return live
