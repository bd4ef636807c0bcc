"""The `predict` command: classify a person's own digit images (or MNIST CSV rows) with the model.

    python -m mnistflow predict digits/ photo.jpg --format table
    python -m mnistflow predict data/raw/mnist_test.csv --format csv > predictions.csv

For each input it prints the predicted digit, its probability, the runner-up and its probability,
and whether the answer is `unsure`: its probability is below the unsure threshold (the model's
metadata, from the train stage's models/model.json, or `--unsure-threshold`). With no threshold,
nothing is unsure. The model is the export stage's ONNX file (models/model.onnx), run by
onnxruntime (`serving.runtime`): no TensorFlow import, a few milliseconds to open.
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
import math
import pathlib
import re
import sys
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from mnistflow.core import arrays, atomic
from mnistflow.serving import predict_inputs

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "models/model.onnx"
BATCH_SIZE = 2048  # images per model call: large enough to keep the cores busy, small enough for memory
FORMATS = ("table", "json", "csv")
COLUMNS = ("input", "digit", "probability", "runner_up", "runner_up_probability", "unsure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, directories of images, or MNIST CSV files")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"ONNX model to use, from the export stage (default: {DEFAULT_MODEL})")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument(
        "--unsure-threshold", type=threshold, metavar="P",
        help="call an answer unsure when its probability is below P (default: the model's own threshold, if it has one)",
    )
    parser.add_argument("--save-prepared", metavar="DIR", help="write the 28x28 PNG the model saw for each input into DIR")


def threshold(text: str) -> float:
    """argparse type for --unsure-threshold: a number >= 0 (above 1 makes every answer unsure)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0 (a probability; 0 turns it off); got {text!r}")
    return value


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
    unsure_threshold = args.unsure_threshold
    if len(images):
        model = load_model(args.model)
        probabilities = classify(model, images)
        if unsure_threshold is None:
            unsure_threshold = model.unsure_threshold
    # Always a whole document (an empty JSON list, a header-only CSV), so a pipe can parse it.
    sys.stdout.write(format_predictions(inputs.names, probabilities, args.format, unsure_threshold=unsure_threshold))
    return 1 if inputs.failures else 0


def load_model(path: str | pathlib.Path) -> Any:
    """The ONNX model at `path` on onnxruntime (`runtime.Classifier`); a one-line ValueError for a missing or Keras file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such model file; export one first (dvc repro export) or pass --model PATH")
    if path.suffix == ".keras" or zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: a Keras model; predict runs its ONNX export: run `dvc repro export` and pass --model models/model.onnx"
        )
    # Imported here, not at the top: `predict --help` needs no onnxruntime.
    from mnistflow.serving import runtime

    return runtime.load(path)


def classify(model: Any, images: np.ndarray, *, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float32 probabilities (N, 10) from `model.predict`, in chunks of `batch_size`."""
    chunks = [np.asarray(model.predict(images[start : start + batch_size])) for start in range(0, len(images), batch_size)]
    if not chunks:
        return np.zeros((0, arrays.NUM_CLASSES), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def is_unsure(probabilities: np.ndarray, unsure_threshold: float | None) -> np.ndarray:
    """bool (N,): the top probability is below the threshold (all False when there is none)."""
    if unsure_threshold is None:
        return np.zeros(len(probabilities), dtype=bool)
    return probabilities.max(axis=1, initial=0.0) < unsure_threshold


def top_two(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(digit, its probability, runner-up digit, its probability), each (N,); ties go to the lower digit."""
    order = np.argsort(-probabilities, axis=1, kind="stable")
    rows = np.arange(len(probabilities))
    first, second = order[:, 0], order[:, 1]
    return first, probabilities[rows, first], second, probabilities[rows, second]


def format_predictions(
    names: Sequence[str], probabilities: np.ndarray, output_format: str, *, unsure_threshold: float | None = None,
) -> str:
    digit, probability, runner_up, runner_up_probability = top_two(probabilities)
    unsure = is_unsure(probabilities, unsure_threshold)
    records = [
        {
            "input": name,
            "digit": int(digit[i]),
            "probability": round(float(probability[i]), 6),
            "runner_up": int(runner_up[i]),
            "runner_up_probability": round(float(runner_up_probability[i]), 6),
            "unsure": bool(unsure[i]),
        }
        for i, name in enumerate(names)
    ]
    if output_format == "json":
        return json.dumps(records, indent=2) + "\n"
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {
                **r, "probability": f"{r['probability']:.4f}", "runner_up_probability": f"{r['runner_up_probability']:.4f}",
                "unsure": "true" if r["unsure"] else "false",
            }
            for r in records
        )
        return buffer.getvalue()
    if output_format == "table":
        return _table(records)
    raise ValueError(f"--format must be one of {', '.join(FORMATS)}; got {output_format!r}")


def _table(records: list[dict[str, Any]]) -> str:
    """One line per input; an unsure answer reads 'unsure (best guess 3)' in the digit column."""
    answers = [f"unsure (best guess {r['digit']})" if r["unsure"] else str(r["digit"]) for r in records]
    width = max([len("input")] + [len(r["input"]) for r in records])
    answer_width = max([len("digit")] + [len(a) for a in answers])
    lines = [f"{'input':<{width}}  {'digit':>{answer_width}}  probability  runner-up  probability"]
    for r, answer in zip(records, answers):
        lines.append(
            f"{r['input']:<{width}}  {answer:>{answer_width}}  {r['probability']:>11.4f}  {r['runner_up']:>9}  {r['runner_up_probability']:>11.4f}"
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
