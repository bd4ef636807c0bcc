"""Run the exported ONNX model (models/model.onnx, the export stage's output) on onnxruntime.

    from mnistflow.serving import runtime

    classifier = runtime.load("models/model.onnx")           # open once: ~ms, no TensorFlow
    probabilities = classifier.predict(images)                # uint8 (N, 28, 28) -> float32 (N, 10)
    probabilities = classifier.predict(images, batch_size=1000)  # the same, 1,000 images per run
    classifier.unsure_threshold                               # from the file's metadata, or None

Images are raw 0-255 pixels, white ink on black, 28x28 and centred as in MNIST: uint8 (N, 28, 28),
or float (N, 28, 28) / (N, 28, 28, 1). The model rescales inside. One session per Classifier: make
it once and call `predict` as often as needed (onnxruntime's `run` may be called from several
threads at once).
"""
from __future__ import annotations

import math
import os
import pathlib

import numpy as np
import onnxruntime
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from mnistflow.core import arrays

DEFAULT_THREADS = 2  # intra-op threads: the cores this project's machines have
# What onnxruntime raises for a file it cannot run (each derives from Exception only): not ONNX,
# a broken graph, an operator or type the CPU provider lacks (bfloat16 convolutions).
LOAD_ERRORS = (ort_errors.InvalidProtobuf, ort_errors.InvalidGraph, ort_errors.InvalidArgument, ort_errors.Fail, ort_errors.NotImplemented)


class Classifier:
    """An onnxruntime session on an MNIST ONNX model: float32 (N, 28, 28, 1) raw pixels -> softmax (N, 10)."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int = DEFAULT_THREADS, spinning: bool = True):
        path = pathlib.Path(path)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer; got {threads!r}")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such model file; export one first (dvc repro export)")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # the graph is one chain of ops: nothing to run side by side
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: no start-up warnings on stderr
        # Spinning: idle threads busy-wait for the next op. Off, they sleep: on a busy 2-core machine
        # a batch job runs ~1.7x faster so (bench/stages.py, docs/benchmarks.md), on an idle one as fast.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        try:
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except LOAD_ERRORS as error:
            raise ValueError(f"{path}: not an ONNX model onnxruntime can run ({' '.join(str(error).split())[:300]})") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if (len(inputs) != 1 or len(outputs) != 1 or list(inputs[0].shape[1:]) != [arrays.SIDE, arrays.SIDE, 1]
                or list(outputs[0].shape[1:]) != [arrays.NUM_CLASSES]):
            raise ValueError(
                f"{path}: expected a model from (N, 28, 28, 1) images to (N, 10) probabilities; "
                f"got inputs {[i.shape for i in inputs]} -> outputs {[o.shape for o in outputs]}"
            )
        if inputs[0].type != "tensor(float)":
            raise ValueError(f"{path}: expected float32 input; got {inputs[0].type} (export a float32 copy: dvc repro export)")
        self.path = path
        self._input_name, self._output_name = inputs[0].name, outputs[0].name
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)
        self.unsure_threshold: float | None = _number(self.metadata, "unsure_threshold", path)
        self.temperature: float | None = _number(self.metadata, "temperature", path)

    def predict(self, images: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """uint8 (N, 28, 28) or float (N, 28, 28[, 1]) raw 0-255 pixels -> float32 (N, 10) probabilities.

        `batch_size` images per session run (None: all at once); it bounds memory, not the answer.
        """
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None; got {batch_size!r}")
        images = np.asarray(images)
        side = arrays.SIDE
        if images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (side, side):
            batch = images.astype(np.float32)[..., np.newaxis]
        elif np.issubdtype(images.dtype, np.floating) and images.shape[1:] in ((side, side), (side, side, 1)):
            batch = np.ascontiguousarray(images, dtype=np.float32).reshape(len(images), side, side, 1)
        else:
            raise ValueError(
                f"images must be uint8 (N, 28, 28) or float (N, 28, 28) / (N, 28, 28, 1) raw 0-255 pixels; got {images.dtype} {images.shape}"
            )
        if not len(batch):
            return np.zeros((0, arrays.NUM_CLASSES), dtype=np.float32)
        step = batch_size or len(batch)
        parts = [self._session.run([self._output_name], {self._input_name: batch[start : start + step]})[0]
                 for start in range(0, len(batch), step)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __repr__(self) -> str:
        return f"Classifier({str(self.path)!r}, unsure_threshold={self.unsure_threshold})"


def load(path: str | os.PathLike[str], *, threads: int = DEFAULT_THREADS, spinning: bool = True) -> Classifier:
    """Open the ONNX model at `path` (see Classifier); `spinning=False` for batch jobs on a shared machine."""
    return Classifier(path, threads=threads, spinning=spinning)


def _number(metadata: dict[str, str], key: str, path: pathlib.Path) -> float | None:
    if key not in metadata:
        return None
    try:
        value = float(metadata[key])
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{path}: metadata {key} must be a finite number; got {metadata[key]!r} (re-export: dvc repro export)")
    return value
