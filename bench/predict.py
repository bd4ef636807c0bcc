"""Benchmark: how fast `predict` classifies a batch of CSV rows, and one image including model load.

    python bench/predict.py [--model models/model.keras] [--csv data/raw/mnist_test.csv] [--export models/export]

Prints two tables, each with a reference measured in the same run:
1. Throughput on the 10,000-row test CSV: parse + classify, batched, as `predict` does it for more
   than 100 images (the TensorFlow engine: one graph, BatchNorm folded into the convolutions),
   against the reference, the Keras model itself in the same batches; and the parts alone, the
   Keras model called once per image, the numpy engine. Target: >= 10,000 images/s.
2. Time for one image, from a PNG on disk to its answer, including loading the model from a warm
   file cache: with the numpy engine (what `predict` uses for up to 100 images), with Keras
   (TensorFlow already imported), and with the exported SavedModel (`--export`, if present).
   Reference: the same image with the Keras model already loaded. Target: < 50 ms. Fresh
   `python -m mnistflow predict one.png` processes are timed too; they also pay for starting
   Python (and, with `--engine keras`, importing TensorFlow).
The cores are whatever this machine has (`os.cpu_count()` is printed); run it on an idle machine.
Each row shows wall and CPU seconds (medians): on a busy machine, CPU time is the steadier figure.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from mnistflow.core import mnist_csv  # noqa: E402
from mnistflow.core import digit_image
from mnistflow.serving import numpy_model, predict, predict_inputs
from timing import load_average, median_seconds  # noqa: E402  (bench/timing.py)


def timed(function, repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds over `repeats` calls."""
    return median_seconds(function, repeats)


def throughput(model_path: pathlib.Path, csv_path: pathlib.Path, repeats: int) -> list[tuple[str, int, tuple[float, float]]]:
    keras_model = predict.load_model(model_path, engine="keras")
    model = predict.load_model(model_path, engine="tensorflow")
    images = predict_inputs.read_inputs([csv_path]).stacked()
    for warm in (keras_model, model):
        predict.classify(warm, images[:predict.BATCH_SIZE])  # warm-up: first calls build kernels
    rows = []
    seconds = timed(lambda: predict.classify(keras_model, images), repeats)
    rows.append((f"reference: classify only, Keras model (batches of {predict.BATCH_SIZE})", len(images), seconds))
    unbatched = images[:500]
    seconds = timed(lambda: [predict.classify(keras_model, image[np.newaxis]) for image in unbatched], 1)
    rows.append(("classify only, Keras model, one call per image", len(unbatched), seconds))
    seconds = timed(lambda: predict_inputs.read_inputs([csv_path]).stacked(), repeats)
    rows.append(("parse the CSV only (numpy.loadtxt, as predict does)", len(images), seconds))
    seconds = timed(lambda: mnist_csv.read_csv(csv_path, layouts=("rowcol", "pixel")), repeats)
    rows.append(("parse the CSV only (pyarrow, threaded: mnist_csv.read_csv)", len(images), seconds))
    seconds = timed(lambda: predict.classify(model, images), repeats)
    rows.append((f"classify only, TensorFlow engine: BatchNorm folded (batches of {predict.BATCH_SIZE})", len(images), seconds))
    engine = numpy_model.load(model_path)
    seconds = timed(lambda: predict.classify(engine, images), 1)
    rows.append(("classify only, numpy engine", len(images), seconds))
    seconds = timed(lambda: predict.classify(keras_model, predict_inputs.read_inputs([csv_path]).stacked()), repeats)
    rows.append(("parse + classify, Keras model", len(images), seconds))
    seconds = timed(lambda: predict.classify(model, predict_inputs.read_inputs([csv_path]).stacked()), repeats)
    rows.append(("**parse + classify, TensorFlow engine: the predict path**", len(images), seconds))

    def whole_command():
        inputs = predict_inputs.read_inputs([csv_path])
        return predict.format_predictions(inputs.names, predict.classify(model, inputs.stacked()), "csv")

    seconds = timed(whole_command, repeats)
    rows.append(("parse + classify + format the CSV answer (the command, model loaded)", len(images), seconds))
    return rows


def single_image(model_path: pathlib.Path, export_path: pathlib.Path | None, png: pathlib.Path, repeats: int) -> list[tuple[str, tuple[float, float]]]:
    import tensorflow as tf

    def keras_path():
        model = predict.load_model(model_path, engine="keras")
        return predict.classify(model, predict_inputs.read_inputs([png]).stacked())

    def numpy_path():
        model = numpy_model.load(model_path)
        return predict.classify(model, predict_inputs.read_inputs([png]).stacked())

    def savedmodel_path():
        served = tf.saved_model.load(str(export_path))
        prepared = digit_image.prepare(digit_image.load_grayscale(png))
        return served.signatures["serving_default"](images=tf.constant(prepared[np.newaxis]))["probabilities"].numpy()

    model = predict.load_model(model_path, engine="keras")
    keras_path()  # warm the file cache and TensorFlow's one-time set-up
    rows = []
    seconds = timed(lambda: predict.classify(model, predict_inputs.read_inputs([png]).stacked()), repeats)
    rows.append(("reference: model already loaded, read + prepare + predict", seconds))
    seconds = timed(numpy_path, repeats)
    rows.append(("numpy engine: load .keras + read + prepare + predict (predict's path)", seconds))
    seconds = timed(keras_path, repeats)
    rows.append(("Keras: load .keras + read + prepare + predict", seconds))
    if export_path is not None and export_path.is_dir():
        savedmodel_path()
        seconds = timed(savedmodel_path, repeats)
        rows.append(("SavedModel: load the export + read + prepare + predict", seconds))
    environment = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parent.parent / "src")}
    for engine in ("numpy", "keras"):
        command = [sys.executable, "-m", "mnistflow", "predict", str(png), "--model", str(model_path), "--engine", engine]
        subprocess.run(command, check=True, capture_output=True, env=environment)  # warm the file cache
        seconds = timed(lambda: subprocess.run(command, check=True, capture_output=True, env=environment), 3)
        rows.append((f"fresh process: python -m mnistflow predict one.png --engine {engine}", seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/model.keras", type=pathlib.Path)
    parser.add_argument("--csv", default="data/raw/mnist_test.csv", type=pathlib.Path, help="MNIST CSV (10,000 rows)")
    parser.add_argument("--export", default="models/export", type=pathlib.Path, help="SavedModel from the export stage")
    parser.add_argument("--repeats", default=5, type=int)
    args = parser.parse_args()
    for path in (args.model, args.csv):
        if not path.is_file():
            sys.exit(f"error: {path}: no such file; run `dvc repro` first (or pass --model / --csv)")

    print(f"cpus: {os.cpu_count()}, load average: {load_average()}")
    rows = throughput(args.model, args.csv, args.repeats)
    reference = rows[0][1] / rows[0][2][0]
    print("\n| batched CSV input | images | wall s | CPU s | images/s | vs reference |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, count, (wall, cpu) in rows:
        rate = count / wall
        print(f"| {name} | {count:,} | {wall:.3f} | {cpu:.3f} | {rate:,.0f} | {rate / reference:.1f}x |")

    with tempfile.TemporaryDirectory() as directory:
        png = pathlib.Path(directory) / "digit.png"
        first = predict_inputs.read_inputs([args.csv]).stacked()[0]
        Image.fromarray(255 - np.pad(first, 20)).resize((200, 200)).save(png)  # dark ink on white, larger
        single = single_image(args.model, args.export, png, args.repeats)
    reference_seconds = single[0][1][0]
    print("\n| one image, warm file cache | wall ms | CPU ms | vs reference |")
    print("| --- | ---: | ---: | ---: |")
    for name, (wall, cpu) in single:
        print(f"| {name} | {wall * 1000:.1f} | {cpu * 1000:.1f} | {wall / reference_seconds:.1f}x |")
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
