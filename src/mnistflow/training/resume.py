"""Resume interrupted training exactly: a per-epoch checkpoint of everything training depends on.

    fingerprint = resume.fingerprint(params=..., data=(train_npz, val_npz), code=resume.python_files(...))
    state = resume.load(path, fingerprint=fingerprint)   # None: start from epoch 1
    callback = resume.Checkpoint(path, fingerprint=fingerprint, state=state, watched=(early_stopping, plateau))

Why not keras.callbacks.BackupAndRestore: it restores weights and optimizer, but not the random
layers' seed state (dropout masks, augmentation draws) or the callbacks' counters, so a resumed
run drifts from an uninterrupted one. Here one .npz (written atomically after each epoch) holds
the model's variables (weights, normalisation statistics, seed generators), the optimiser's
variables (step count, moments), EarlyStopping's best weights so far, and a JSON record: the
epochs done, every finished epoch's logs (to rebuild the dvclive files), the watched callbacks'
counters, and the fingerprint. `Checkpoint` puts it all back when training begins, after Keras's
callbacks have reset themselves. Batch order depends on (seed, epoch) only (train.epoch_order).

The fingerprint covers the params, the data files and the training code (each file's digest): a
checkpoint written for anything else is ignored, with one log line naming what changed, so edited
code never continues an old run's weights.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from mnistflow.core import atomic

log = logging.getLogger(__name__)

Path = str | os.PathLike[str]
# The counters of the callbacks a checkpoint watches (their `on_train_begin` resets them).
COUNTERS = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


def python_files(*paths: Path) -> list[pathlib.Path]:
    """The files among `paths`, and every .py file under the folders among them, sorted."""
    found: set[pathlib.Path] = set()
    for path in map(pathlib.Path, paths):
        found.update(path.rglob("*.py") if path.is_dir() else [path])
    return sorted(found)


def fingerprint(*, params: Any, data: Sequence[Path] = (), code: Sequence[Path] = ()) -> dict[str, Any]:
    """What a checkpoint is valid for: a digest of the params' repr and of the data files' bytes,
    and each code file's digest by its path (so a changed file can be named)."""
    data_digest = hashlib.sha256()
    for path in data:
        data_digest.update(_digest(path).encode())
    return {
        "params": hashlib.sha256(repr(params).encode()).hexdigest(),
        "data": data_digest.hexdigest(),
        "code": {os.path.relpath(path): _digest(path) for path in code},
    }


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load(path: Path, *, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at `path` if there is one for this fingerprint, else None (logging why)."""
    path = pathlib.Path(path)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        record = json.loads(str(data["record"]))
        if record.get("fingerprint") != fingerprint:
            log.info("not resuming from %s: %s; starting from epoch 1", path, _what_changed(record.get("fingerprint"), fingerprint))
            return None
        state = {name: _unnumbered(data, name) for name in ("model", "optimizer", "best")}
    return {**record, **state}


def _what_changed(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict) or set(old) != set(new):
        return "it was written by another version of this program"
    if old["code"] != new["code"]:
        files = sorted(name for name in old["code"].keys() | new["code"].keys() if old["code"].get(name) != new["code"].get(name))
        return f"the training code changed since it was written ({', '.join(files)})"
    return "it was written for other " + " and ".join(part for part in ("params", "data") if old[part] != new[part])


def finished(state: dict[str, Any] | None, epochs: int) -> bool:
    """True when the checkpoint's run had stopped or done all `epochs` (killed while saving the model)."""
    return state is not None and (state["stopped"] or state["epochs_done"] >= epochs)


class Checkpoint(keras.callbacks.Callback):
    """Put `state` (from `load`) back when training begins; save the full state to `path` after each epoch.

    Goes after the `watched` callbacks in the list, so it restores their counters after their own
    `on_train_begin` has reset them, and saves what their `on_epoch_end` has just updated.
    """

    def __init__(self, path: Path, *, fingerprint: dict[str, Any], state: dict[str, Any] | None, watched: Sequence[Any] = ()) -> None:
        super().__init__()
        self.path = pathlib.Path(path)
        self.fingerprint = fingerprint
        self.state = state
        self.watched = list(watched)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history = list(self.state["history"]) if self.state else []
        if self.state is None:
            return
        variables = self.model.variables
        if len(variables) != len(self.state["model"]):
            raise ValueError(f"{self.path} has {len(self.state['model'])} model variables, the model {len(variables)}; delete it")
        for variable, value in zip(variables, self.state["model"], strict=True):
            variable.assign(value)
        self.model.optimizer.build(self.model.trainable_variables)
        for variable, value in zip(self.model.optimizer.variables, self.state["optimizer"], strict=True):
            variable.assign(value)
        for callback, counters in zip(self.watched, self.state["counters"], strict=True):
            for name, value in counters.items():
                setattr(callback, name, value)
            if isinstance(callback, keras.callbacks.EarlyStopping):
                callback.best_weights = self.state["best"] or None
        log.info("resuming after epoch %d of a previous run", self.state["epochs_done"])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.history.append({name: float(value) for name, value in (logs or {}).items()})
        record = {
            "fingerprint": self.fingerprint,
            "epochs_done": epoch + 1,
            "stopped": bool(self.model.stop_training),
            "history": self.history,
            "counters": [{name: getattr(callback, name) for name in COUNTERS[type(callback)]} for callback in self.watched],
        }
        best = next((c.best_weights for c in self.watched if isinstance(c, keras.callbacks.EarlyStopping)), None)
        saved = {"record": np.array(json.dumps(record, default=lambda value: value.item()))}  # numpy scalars
        saved |= _numbered("model", [v.numpy() for v in self.model.variables])
        saved |= _numbered("optimizer", [v.numpy() for v in self.model.optimizer.variables])
        saved |= _numbered("best", best or [])
        atomic.save_npz(self.path, **saved)


def _numbered(prefix: str, values: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}_{index:04d}": np.asarray(value) for index, value in enumerate(values)}


def _unnumbered(data: Any, prefix: str) -> list[np.ndarray]:
    return [data[name] for name in sorted(n for n in data.files if n.startswith(prefix + "_"))]
