"""The `predict` command: classify a person's own digit images (or MNIST CSV rows) with the model.

    python -m mnistflow predict digits/ photo.jpg --format table
    python -m mnistflow predict data/raw/mnist_test.csv --format csv > predictions.csv

For each input it prints the predicted digit, its probability, the runner-up and its probability.
Three engines run the model. A few images (up to `NUMPY_UP_TO`) go to `numpy_model`, which needs
no TensorFlow (a second instead of several); more go to `graph_model`, one TensorFlow graph with
BatchNorm folded into the convolutions (the fastest per image in batches); `keras` calls the
Keras model itself. `--engine` overrides the choice; a model with a layer the numpy or TensorFlow
engine does not know runs with Keras.
An input that cannot be used (unreadable, not an image, no ink, a bad CSV row) gets one line on
stderr; the others are still classified, and the exit status is 1. How inputs are read and
prepared: `predict_inputs`, `digit_image`.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import pathlib
import re
import sys
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from mnistflow.core import arrays, atomic
from mnistflow.serving import folded, predict_inputs

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "models/model.keras"
BATCH_SIZE = 2048  # images per model call: large enough to keep the cores busy, small enough for memory
FORMATS = ("table", "json", "csv")
ENGINES = ("auto", "tensorflow", "keras", "numpy")
EAGER_UP_TO = 64  # images; a Keras call on fewer skips tracing the graph
NUMPY_UP_TO = 100  # images; beyond this, importing TensorFlow (seconds) pays for itself in speed
COLUMNS = ("input", "digit", "probability", "runner_up", "runner_up_probability")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, directories of images, or MNIST CSV files")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"Keras model to use (default: {DEFAULT_MODEL})")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument(
        "--engine", choices=ENGINES, default="auto",
        help=f"run the model as a folded TensorFlow graph, with Keras itself, or with numpy (no TensorFlow import); "
        f"auto: numpy up to {NUMPY_UP_TO} images, tensorflow beyond (default: auto)",
    )
    parser.add_argument("--save-prepared", metavar="DIR", help="write the 28x28 PNG the model saw for each input into DIR")


def run(args: argparse.Namespace) -> int:
    """The command: read, (save prepared), classify, print. Returns the exit status."""
    inputs = predict_inputs.read_inputs(args.inputs)
    images = inputs.stacked()
    logger.info("%d images to classify, %d inputs failed", len(images), len(inputs.failures))
    if args.save_prepared:
        save_prepared(args.save_prepared, inputs.names, images)
    for name, message in inputs.failures:
        print(f"error: {name}: {' '.join(message.split())}", file=sys.stderr)
    probabilities = np.zeros((0, arrays.NUM_CLASSES), dtype=np.float32)
    if len(images):
        probabilities = classify(load_model(args.model, engine=choose_engine(args.engine, len(images))), images)
    # Always a whole document (an empty JSON list, a header-only CSV), so a pipe can parse it.
    sys.stdout.write(format_predictions(inputs.names, probabilities, args.format))
    return 1 if inputs.failures else 0


def choose_engine(engine: str, images: int) -> str:
    """'auto' becomes 'numpy' for a few images (no TensorFlow import), 'tensorflow' for many."""
    if engine == "auto":
        return "numpy" if images <= NUMPY_UP_TO else "tensorflow"
    return engine


def load_model(path: str | pathlib.Path, *, engine: str = "tensorflow") -> Any:
    """Load a model that takes (N, 28, 28, 1) and returns (N, 10) probabilities, callable as model(x, training=False).

    engines 'numpy' and 'tensorflow' fall back to Keras when `folded` does not support a layer the model uses.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such model file; train one first (dvc repro train) or pass --model PATH")
    if not zipfile.is_zipfile(path):  # Keras would call it "File not found", which misleads
        raise ValueError(f"{path}: not a Keras model (a .keras file is a zip archive); pass --model PATH to one the train stage wrote")
    if engine not in ENGINES[1:]:
        raise ValueError(f"engine must be one of {', '.join(ENGINES[1:])}; got {engine!r}")
    model = None
    if engine in ("numpy", "tensorflow"):
        try:
            if engine == "numpy":
                from mnistflow.serving import numpy_model

                model = numpy_model.load(path)
            else:
                from mnistflow.serving import graph_model

                model = graph_model.load(path)
        except folded.Unsupported as error:
            logger.info("%s: the %s engine does not support %s; using Keras", path, engine, error)
    if model is None:
        model = _KerasModel(path)
    if tuple(model.input_shape[1:]) != (28, 28, 1) or tuple(model.output_shape[1:]) != (10,):
        raise ValueError(
            f"{path}: expected a model from (N, 28, 28, 1) images to (N, 10) probabilities; "
            f"got {model.input_shape} -> {model.output_shape}"
        )
    return model


class _KerasModel:
    """The Keras model called through one traced tf.function: batches run several times faster than
    eager calls (measured in bench/predict.py), and any batch size reuses the same graph. A small
    batch is called eagerly: tracing the graph costs more than it saves there."""

    def __init__(self, path: pathlib.Path):
        import keras  # here, not at the top: TensorFlow takes seconds to import
        import tensorflow as tf

        self.keras_model = keras.models.load_model(path, compile=False)
        self.input_shape, self.output_shape = self.keras_model.input_shape, self.keras_model.output_shape
        self._call = tf.function(
            lambda batch: self.keras_model(batch, training=False),
            input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)],
        )

    def __call__(self, batch: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            raise ValueError("predict runs the model in inference mode only")
        if len(batch) <= EAGER_UP_TO:
            return np.asarray(self.keras_model(batch, training=False))
        return self._call(batch).numpy()


def classify(model: Any, images: np.ndarray, *, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float32 probabilities (N, 10), in chunks of `batch_size`."""
    batch = arrays.to_model_input(images)
    chunks = [np.asarray(model(batch[start : start + batch_size], training=False)) for start in range(0, len(batch), batch_size)]
    return np.concatenate(chunks).astype(np.float32, copy=False)


def top_two(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(digit, its probability, runner-up digit, its probability), each (N,); ties go to the lower digit."""
    order = np.argsort(-probabilities, axis=1, kind="stable")
    rows = np.arange(len(probabilities))
    first, second = order[:, 0], order[:, 1]
    return first, probabilities[rows, first], second, probabilities[rows, second]


def format_predictions(names: Sequence[str], probabilities: np.ndarray, output_format: str) -> str:
    digit, probability, runner_up, runner_up_probability = top_two(probabilities)
    records = [
        {
            "input": name,
            "digit": int(digit[i]),
            "probability": round(float(probability[i]), 6),
            "runner_up": int(runner_up[i]),
            "runner_up_probability": round(float(runner_up_probability[i]), 6),
        }
        for i, name in enumerate(names)
    ]
    if output_format == "json":
        return json.dumps(records, indent=2) + "\n"
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "probability": f"{r['probability']:.4f}", "runner_up_probability": f"{r['runner_up_probability']:.4f}"} for r in records)
        return buffer.getvalue()
    if output_format == "table":
        return _table(records)
    raise ValueError(f"--format must be one of {', '.join(FORMATS)}; got {output_format!r}")


def _table(records: list[dict[str, Any]]) -> str:
    width = max([len("input")] + [len(r["input"]) for r in records])
    lines = [f"{'input':<{width}}  digit  probability  runner-up  probability"]
    for r in records:
        lines.append(
            f"{r['input']:<{width}}  {r['digit']:>5}  {r['probability']:>11.4f}  {r['runner_up']:>9}  {r['runner_up_probability']:>11.4f}"
        )
    return "\n".join(lines) + "\n"


def prepared_file_name(index: int, name: str) -> str:
    """'00003-digits_seven.jpg.png': numbered in output order (names can repeat), safe characters only."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "input"
    return f"{index:05d}-{safe[-80:]}.png"


def save_prepared(directory: str | pathlib.Path, names: Sequence[str], images: np.ndarray) -> None:
    """Write each 28x28 image the model sees as a grayscale PNG (atomically) into `directory`."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for index, (name, image) in enumerate(zip(names, images)):
        with atomic.atomic_path(directory / prepared_file_name(index, name)) as temporary:
            Image.fromarray(image, mode="L").save(temporary, format="PNG")
    logger.info("wrote %d prepared images to %s", len(images), directory)
