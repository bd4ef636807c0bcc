"""Resume interrupted training exactly: a per-epoch checkpoint of everything training depends on.

    checkpoint = resume.Checkpoint(path, fingerprint=fp, keep_best=keep_best, plateau=plateau)
    state = resume.load(path, fingerprint=fp)          # None: start from epoch 0
    if state: initial_epoch = resume.restore(model, state, keep_best=keep_best, plateau=plateau)

Why not keras.callbacks.BackupAndRestore: it restores weights and optimizer, but not the random
layers' seed state (dropout masks, augmentation draws) or the callbacks' counters, so a resumed
run drifts from an uninterrupted one. Here one .npz (written atomically after each epoch) holds
the model's variables (weights, BatchNorm statistics, seed generators), the optimiser's variables
(step count, moments), the best weights so far, and a JSON record: the epoch, every finished
epoch's logs (to rebuild the dvclive files), KeepBest's and ReduceLROnPlateau's counters, and a
fingerprint of params and data. A checkpoint with another fingerprint (params or data changed
since) is ignored. Batch order depends on (seed, epoch) only (train.epoch_order).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from typing import Any

import keras
import numpy as np

from mnistflow.core import atomic

log = logging.getLogger(__name__)

PLATEAU_STATE = ("wait", "best", "cooldown_counter")


def fingerprint(*parts: Any, files: tuple[str | os.PathLike[str], ...] = ()) -> str:
    """SHA-256 over the parts' repr and the files' bytes: what a checkpoint is valid for."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode())
    for path in files:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


class Checkpoint(keras.callbacks.Callback):
    """After each epoch, save the full training state to `path` (one .npz, written atomically)."""

    def __init__(self, path: str | os.PathLike[str], *, fingerprint: str, keep_best: Any, plateau: Any = None,
                 history: list[dict[str, float]] | None = None) -> None:
        super().__init__()
        self.path = pathlib.Path(path)
        self.fingerprint = fingerprint
        self.keep_best = keep_best
        self.plateau = plateau
        self.history = list(history or [])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.history.append({name: float(value) for name, value in (logs or {}).items()})
        record = {
            "fingerprint": self.fingerprint,
            "epochs_done": epoch + 1,
            "stopped": bool(self.model.stop_training),
            "history": self.history,
            "keep_best": self.keep_best.get_state(),
            "plateau": {name: float(getattr(self.plateau, name)) for name in PLATEAU_STATE} if self.plateau else None,
        }
        saved = {"record": np.array(json.dumps(record))}
        saved |= _numbered("model", [v.numpy() for v in self.model.variables])
        saved |= _numbered("optimizer", [v.numpy() for v in self.model.optimizer.variables])
        saved |= _numbered("best", self.keep_best.best_weights or [])
        atomic.save_npz(self.path, **saved)


def load(path: str | os.PathLike[str], *, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if there is one for this fingerprint, else None."""
    path = pathlib.Path(path)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        record = json.loads(str(data["record"]))
        if record["fingerprint"] != fingerprint:
            log.info("ignoring %s: it was written for other params or data", path)
            return None
        state = {name: _unnumbered(data, name) for name in ("model", "optimizer", "best")}
    return {**record, **state}


def restore(model: Any, state: dict[str, Any], *, keep_best: Any, plateau: Any = None) -> int:
    """Put the checkpoint's state into a freshly built, compiled model and the callbacks; return the next epoch."""
    variables = model.variables
    if len(variables) != len(state["model"]):
        raise ValueError(f"checkpoint has {len(state['model'])} model variables, the model {len(variables)}; delete the checkpoint")
    for variable, value in zip(variables, state["model"], strict=True):
        variable.assign(value)
    model.optimizer.build(model.trainable_variables)
    for variable, value in zip(model.optimizer.variables, state["optimizer"], strict=True):
        variable.assign(value)
    keep_best.set_state(state["keep_best"], state["best"] or None)
    if plateau is not None and state["plateau"] is not None:
        for name in PLATEAU_STATE:
            setattr(plateau, name, state["plateau"][name])
    log.info("resuming after epoch %d of a previous run", state["epochs_done"])
    return int(state["epochs_done"])


def _numbered(prefix: str, values: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}_{index:04d}": np.asarray(value) for index, value in enumerate(values)}


def _unnumbered(data: Any, prefix: str) -> list[np.ndarray]:
    return [data[name] for name in sorted(n for n in data.files if n.startswith(prefix + "_"))]
