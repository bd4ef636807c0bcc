"""Train the CNN: params, model compilation, the epoch-indexed input pipeline and the fit loop.

    config = params.load_section("params.yaml", "train", TrainParams)   # (in the stage)
    model, summary = train_model((images, labels), (val_images, val_labels), config=config, seed=42,
                                 live_dir="metrics/train", checkpoint_path=".cache/train/checkpoint.npz",
                                 fingerprint=resume.fingerprint(...))

`build_and_compile` builds and compiles in one call (so a distribution strategy's scope can wrap
it); `fit` runs `model.fit` over `batches`; `train_model` wires callbacks, dvclive and resuming.

The best weights by validation (`best_by`: val_loss or val_accuracy) are kept, never chosen by the
test set, which training never sees.
Every epoch's batch order is a pure function of (seed, epoch), and all other state (weights,
optimizer slots, the random layers' seeds, the callbacks' counters) lives in variables or in
`resume.Checkpoint`: so a run resumed after epoch k ends exactly where an uninterrupted one does.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from mnistflow.core import arrays, params, runlog
from mnistflow.training.distribute import Distribution
from mnistflow.training.model import ArchitectureParams, AugmentParams, build_model, inference_copy

log = logging.getLogger(__name__)

ONE_CYCLE_START = 25  # one-cycle warm-up starts at learning_rate / 25 ...
ONE_CYCLE_END = 1e-4  # ... and anneals to learning_rate * 1e-4 (Smith's and fastai's defaults)


@dataclasses.dataclass(frozen=True)
class TrainParams:
    """The `train` section of params.yaml."""

    epochs: int = dataclasses.field(default=5, metadata=params.check(params.positive))
    batch_size: int = dataclasses.field(default=128, metadata=params.check(params.positive))
    optimizer: Literal["adam", "adamw"] = "adamw"
    learning_rate: float = dataclasses.field(default=2e-3, metadata=params.check(params.positive))
    weight_decay: float = dataclasses.field(default=5e-4, metadata=params.check(params.non_negative))  # adamw only, all weights
    schedule: Literal["none", "cosine", "one_cycle", "plateau"] = "cosine"
    warmup: float = dataclasses.field(default=0.05, metadata=params.check(params.between(0, 1, high_open=True)))
    plateau_factor: float = dataclasses.field(default=0.5, metadata=params.check(params.between(0, 1, low_open=True, high_open=True)))
    plateau_patience: int = dataclasses.field(default=2, metadata=params.check(params.positive))
    label_smoothing: float = dataclasses.field(default=0.0, metadata=params.check(params.between(0, 1, high_open=True)))
    early_stopping_patience: int | None = dataclasses.field(default=None, metadata=params.check(params.positive))
    # The validation figure that picks the kept weights (and drives early stopping and plateau):
    # val_loss moves smoothly; val_accuracy on 6,000 images moves in steps of one image (0.017%).
    best_by: Literal["val_loss", "val_accuracy"] = "val_loss"
    mixed_precision: bool = False  # bfloat16 compute: ~1.5x faster with AMX / AVX-512 BF16, ~5x slower without (docs/training.md)
    distribution: Distribution = "none"  # none | mirrored | multi_worker (docs/scaling.md)
    # Temperature scaling (Guo et al. 2017) fitted on the validation split and built into the saved
    # model, and the share of validation digits whose top probability sets the "unsure" threshold.
    temperature_scaling: bool = True
    # Outlier exposure (Hendrycks et al. 2019): this share of each batch is added as scrambled copies
    # of its digits (pixels shuffled, or 7x7 tiles shuffled) with a uniform target, so the model
    # learns low confidence on things that are not digits (`outliers`, docs/robustness.md).
    outlier_exposure: float = dataclasses.field(default=0.1, metadata=params.check(params.between(0, 1, high_open=True)))
    unsure_rate: float = dataclasses.field(default=0.01, metadata=params.check(params.between(0, 1, high_open=True)))
    model: ArchitectureParams = ArchitectureParams()
    augment: AugmentParams = AugmentParams()


def steps_per_epoch(samples: int, batch_size: int) -> int:
    return math.ceil(samples / batch_size)


def learning_rate(config: TrainParams, *, total_steps: int) -> Any:
    """A float (none, plateau) or a built-in Keras schedule (serialisable with the model)."""
    import keras

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
    import keras

    model = build_model(config.model, config.augment, mixed_precision=config.mixed_precision, fused_batch_norm=True)
    rate = learning_rate(config, total_steps=config.epochs * steps_per_epoch)
    if config.optimizer == "adamw":
        # Decoupled decay of every weight, BatchNorm's included: the recipe measured at 99.62%.
        optimizer = keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(rate)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(arrays.NUM_CLASSES, dtype=np.float32)[labels]


def epoch_order(samples: int, *, seed: int, epoch: int) -> np.ndarray:
    """The shuffled sample order of one epoch: depends on (seed, epoch) only, so resuming replays it."""
    return np.random.default_rng([seed, epoch]).permutation(samples)


TILE = 7  # outlier tiles: the 28x28 field as a 4x4 grid


def outliers(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Not-digits made from digits: the first half with every pixel shuffled, the rest with their
    7x7 tiles shuffled. Each keeps its digit's ink and contrast, none keeps a digit's shape."""
    count = len(images)
    result = images.reshape(count, -1).copy()
    half = count // 2
    for index in range(half):
        result[index] = result[index, rng.permutation(result.shape[1])]
    grid = arrays.SIDE // TILE
    tiles = images[half:].reshape(count - half, grid, TILE, grid, TILE).transpose(0, 1, 3, 2, 4).reshape(count - half, grid * grid, TILE, TILE)
    for index in range(count - half):
        tiles[index] = tiles[index, rng.permutation(grid * grid)]
    result[half:] = tiles.reshape(count - half, grid, grid, TILE, TILE).transpose(0, 1, 3, 2, 4).reshape(count - half, -1)
    return result.reshape(images.shape)


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
    """One epoch's rows, batch after batch: uint8 images, int8 labels (-1: an outlier, whose target
    is uniform), and the rows of a full batch. Every batch but the last is full, so cutting the
    rows into runs of that size gives the epoch's batches back."""
    order = epoch_order(len(labels), seed=seed, epoch=epoch)
    image_parts, label_parts = [], []
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        image_parts.append(images[rows])
        label_parts.append(labels[rows].astype(np.int8))
        extra = outlier_count(len(rows), outlier_share, replicas=replicas)
        if extra:
            image_parts.append(outliers(images[rows[:extra]], np.random.default_rng([seed, epoch, start])))
            label_parts.append(np.full(extra, -1, np.int8))
    full = min(batch_size, len(order)) + outlier_count(min(batch_size, len(order)), outlier_share, replicas=replicas)
    return np.concatenate(image_parts), np.concatenate(label_parts), full


def batches(
    images: np.ndarray, labels: np.ndarray, *, batch_size: int, seed: int, first_epoch: int, epochs: int, outlier_share: float = 0.0,
):
    """A tf.data pipeline of (float32 images, one-hot labels) batches for epochs first_epoch..epochs-1;
    with `outlier_share`, each batch also holds that share of `outliers` with a uniform target.

    Every epoch is laid out in numpy first (`epoch_layout`, ~50 MB of uint8 an epoch of full MNIST)
    and sliced by tf.data: feeding batches from a Python generator instead made training 1.7x
    slower on two cores (docs/training.md, "Input pipeline").
    """
    import tensorflow as tf

    if first_epoch >= epochs:
        raise ValueError(f"batches needs at least one epoch; got first_epoch {first_epoch} and epochs {epochs}")
    uniform = tf.fill((arrays.NUM_CLASSES,), 1 / arrays.NUM_CLASSES)
    # A distribution strategy splits each batch over its replicas, which must get equal shares.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync

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


def fit(
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    config: TrainParams,
    seed: int,
    callbacks: Sequence[Any] = (),
    initial_epoch: int = 0,
) -> None:
    """Run `model.fit` from `initial_epoch` to `config.epochs` (callbacks decide best weights/stop)."""
    images, labels = train
    if initial_epoch >= config.epochs:
        return
    data = batches(images, labels, batch_size=config.batch_size, seed=seed, first_epoch=initial_epoch, epochs=config.epochs,
                   outlier_share=config.outlier_exposure)
    model.fit(
        data,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch(len(labels), config.batch_size),
        validation_data=(arrays.to_model_input(validation[0]), one_hot(validation[1])),
        validation_batch_size=1000,
        callbacks=list(callbacks),
        shuffle=False,  # the pipeline already shuffles, per (seed, epoch)
        verbose=0,  # EpochLog prints one line per epoch instead of progress bars
    )


def train_model(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    config: TrainParams,
    seed: int,
    live_dir: str | None,
    checkpoint_path: str,
    fingerprint: str,
    extra_callbacks: Sequence[Any] = (),
) -> tuple[Any, dict[str, float]]:
    """Build, (resume,) fit and return the model to save, holding the best weights, plus a summary.

    The returned model is `model.inference_copy` of the trained one: plain Keras layers, no
    augmentation or optimizer, so the saved .keras file loads without this package.

    The summary's `*_seconds` figures (`train_seconds`, `epoch_seconds`) are wall-clock times: they
    are left out of the dvclive files, which git tracks (the train stage writes them to its run log).

    Logs per-epoch metrics with dvclive into `live_dir` (None: no dvclive files) and checkpoints
    every epoch to `checkpoint_path`, resuming from it when its fingerprint matches (the caller
    deletes it once the model is saved). `extra_callbacks` run after the built-in ones each epoch.
    """
    import keras

    from mnistflow.training import callbacks, resume

    steps = steps_per_epoch(len(train[1]), config.batch_size)
    model = build_and_compile(config, steps_per_epoch=steps)
    keep_best = callbacks.KeepBest(config.early_stopping_patience, monitor=config.best_by)
    plateau = None
    if config.schedule == "plateau":
        plateau = keras.callbacks.ReduceLROnPlateau(
            monitor=config.best_by, mode="min" if keep_best.lower_is_better else "max", factor=config.plateau_factor, patience=config.plateau_patience,
            min_lr=config.learning_rate * 1e-3, verbose=0,
        )
    state = resume.load(checkpoint_path, fingerprint=fingerprint)
    initial_epoch, history = 0, []
    if state is not None:
        initial_epoch = resume.restore(model, state, keep_best=keep_best, plateau=plateau)
        history = state["history"]
        if state["stopped"]:
            initial_epoch = config.epochs
    live = _live(live_dir, history)
    log.info("training %d images (%d steps per epoch), validating on %d, from epoch %d to %d",
             len(train[1]), steps, len(validation[1]), initial_epoch + 1, config.epochs)
    checkpoint = resume.Checkpoint(checkpoint_path, fingerprint=fingerprint, keep_best=keep_best, plateau=plateau, history=history)
    chain = [callbacks.EpochLog(config.epochs)] + ([plateau] if plateau else []) + [keep_best]
    if live is not None:
        chain.append(callbacks.LiveWithoutTimings(live=live))
    chain.append(checkpoint)  # after the others: it saves what they have just updated
    chain.extend(extra_callbacks)
    fit(model, train, validation, config=config, seed=seed, callbacks=chain, initial_epoch=initial_epoch)
    if keep_best.best_weights is not None:
        model.set_weights(keep_best.best_weights)
    model, calibrated = calibrated_copy(model, validation, config=config)
    best = checkpoint.history[keep_best.best_epoch] if checkpoint.history and keep_best.best_epoch >= 0 else {}
    epoch_seconds = [round(epoch.get("epoch_seconds", 0.0), 2) for epoch in checkpoint.history]
    summary = {
        "train_seconds": round(sum(epoch_seconds), 2),
        "epoch_seconds": epoch_seconds,
        "best_val_accuracy": best.get("val_accuracy", math.nan),
        "best_val_loss": best.get("val_loss", math.nan),
        "best_epoch": keep_best.best_epoch + 1,
        "epochs_run": len(checkpoint.history),
        **calibrated,
    }
    if live is not None:
        live.summary.update(runlog.split(summary)[0])  # timings go to the stage's run log instead
        live.make_summary()
    return model, summary


def calibrated_copy(trained: Any, validation: tuple[np.ndarray, np.ndarray], *, config: TrainParams) -> tuple[Any, dict[str, float]]:
    """The model to save (`inference_copy`) with its temperature built in, and its calibration figures.

    The temperature minimises the validation log loss; the unsure threshold is the top probability
    below which `config.unsure_rate` of the validation digits fall, after calibration.
    """
    from mnistflow.core import calibration

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
