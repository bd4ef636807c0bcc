"""Keras callbacks for training: one log line per epoch, best-by-validation with early stopping, and
dvclive's per-epoch metrics without the wall-clock figures.

Callbacks' `__init__` only store their arguments. `KeepBest` exposes its state (`get_state`,
`set_state`) so `resume.Checkpoint` can save and restore it with the weights.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any

import keras
from dvclive.keras import DVCLiveCallback

from mnistflow.core import runlog

log = logging.getLogger(__name__)


class EpochLog(keras.callbacks.Callback):
    """Adds `learning_rate` and `epoch_seconds` to the epoch's logs and logs one line per epoch."""

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
    """dvclive's Keras callback, minus the epoch's `*_seconds` figures (EpochLog's `epoch_seconds`):
    dvclive's files are tracked by git, and a time would change them on every identical re-run."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, runlog.split(logs or {})[0])


class KeepBest(keras.callbacks.Callback):
    """Keep the weights of the epoch with the best `monitor` (lowest for a loss, else highest); stop
    after `patience` epochs without a better one.

    At the end of training the model holds the best weights (the first best epoch on ties).
    `patience=None` never stops early.
    """

    def __init__(self, patience: int | None = None, monitor: str = "val_loss") -> None:
        super().__init__()
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be a positive integer or None; got {patience!r}")
        self.patience = patience
        self.monitor = monitor
        self.lower_is_better = monitor.endswith("loss")
        self.best_value = math.inf if self.lower_is_better else -math.inf
        self.best_epoch = -1
        self.best_weights: list[Any] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"KeepBest monitors {self.monitor!r}, which is not in the epoch's logs; pass validation data")
        if (value < self.best_value) if self.lower_is_better else (value > self.best_value):
            self.best_value, self.best_epoch = float(value), epoch
            self.best_weights = self.model.get_weights()
        elif self.patience is not None and epoch - self.best_epoch >= self.patience:
            log.info("early stopping after epoch %d: no better %s since epoch %d", epoch + 1, self.monitor, self.best_epoch + 1)
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            log.info("kept the weights of epoch %d (%s %.4f)", self.best_epoch + 1, self.monitor, self.best_value)

    def get_state(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch}

    def set_state(self, state: dict[str, Any], best_weights: list[Any] | None) -> None:
        self.best_value, self.best_epoch = float(state["best_value"]), int(state["best_epoch"])
        self.best_weights = best_weights
