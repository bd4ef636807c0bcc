"""Benchmark: `predict` on onnxruntime against the Keras model (the reference), in the same run.

    python bench/predict.py [--model models/model.keras] [--csv data/raw/mnist_test.csv] [--threads 2]

The ONNX model is exported from --model in this run (export.export_onnx, as the export stage does),
so both sides are the same model. Three measurements, each for onnxruntime and for Keras:
1. Batched: parse the 10,000-row test CSV and classify it in batches of 256 (images/s; also
   classify alone). Target: >= 10,000 images/s. The two models' answers are compared too.
2. One image including model load: open the model, read and prepare a PNG, classify it (ms;
   TensorFlow already imported for Keras). Target: < 50 ms.
3. A fresh process (`python -c` that imports the runtime, loads the model, classifies one image;
   for Keras: imports keras, loads, classifies), and `python -m mnistflow predict one.png` (wall s).
Without models/model.keras it trains a quick one: today's default architecture (params.yaml
`train`, mixed_bfloat16), one epoch on data/prepared/train.npz, or on synthetic digits
(tests/synthetic.py) when that is absent; without the CSV it classifies 10,000 synthetic digits.
It says which in its first lines. Wall and CPU seconds are medians; on a shared machine CPU time
is the steadier figure.
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

import timing  # noqa: E402  (bench/timing.py)
from mnistflow.core import arrays, mnist_csv  # noqa: E402
from mnistflow.serving import export, predict, predict_inputs, runtime  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
BATCH = 256
BATCHED_TARGET = 10_000  # images/s
ONE_IMAGE_TARGET = 0.050  # s, including model load


class KerasReference:
    """The Keras model through one traced tf.function (batches run several times faster than eager calls)."""

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        self._call = tf.function(lambda batch: model(batch, training=False), input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self._call(arrays.to_model_input(images)).numpy()


def quick_model(directory: pathlib.Path) -> tuple[pathlib.Path, str]:
    """Train today's default architecture for one epoch; the .keras path and what it was trained on."""
    import keras

    from mnistflow.core import params as core_params
    from mnistflow.training import model as model_lib, train as train_lib

    train_params = core_params.load_section(ROOT / "params.yaml", "train", train_lib.TrainParams)
    architecture, mixed = train_params.model, train_params.mixed_precision
    prepared = ROOT / "data" / "prepared" / "train.npz"
    if prepared.is_file():
        images, labels = arrays.load_split(prepared)
        images, labels, source = images[:6000], labels[:6000], f"{prepared} (first 6,000)"
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from synthetic import make_digits

        images, labels = make_digits(300, seed=1)
        source = "3,000 synthetic digits (tests/synthetic.py; no data/prepared/train.npz)"
    keras.utils.set_random_seed(0)
    no_augment = model_lib.NO_AUGMENTATION
    model = model_lib.build_model(architecture, no_augment, mixed_precision=mixed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(arrays.to_model_input(images), labels, epochs=1, batch_size=128, verbose=0)
    path = directory / "model.keras"
    model.save(path)
    policy = "mixed_bfloat16" if mixed else "float32"
    return path, f"quick model: default architecture ({policy}), 1 epoch on {source}"


def test_csv(path: pathlib.Path, directory: pathlib.Path) -> tuple[pathlib.Path, str]:
    if path.is_file():
        return path, f"data: {path}"
    sys.path.insert(0, str(ROOT / "tests"))
    from synthetic import make_digits

    synthetic = directory / "synthetic_test.csv"
    mnist_csv.write_csv(synthetic, *make_digits(1000, seed=2))
    return synthetic, f"data: 10,000 synthetic digits (tests/synthetic.py), no {path}"


def batched(classifier, reference, csv_path: pathlib.Path, repeats: int) -> list[tuple[str, int, tuple[float, float]]]:
    images = predict_inputs.read_inputs([csv_path]).stacked()
    for model in (classifier, reference):
        predict.classify(model, images[:BATCH * 2], batch_size=BATCH)  # warm-up: first calls build kernels
    rows = []
    for label, model in (("Keras (reference)", reference), ("onnxruntime", classifier)):
        seconds = timing.median_seconds(lambda m=model: predict.classify(m, predict_inputs.read_inputs([csv_path]).stacked(), batch_size=BATCH), repeats)
        rows.append((f"{label}: parse CSV + classify, batches of {BATCH}", len(images), seconds))
        seconds = timing.median_seconds(lambda m=model: predict.classify(m, images, batch_size=BATCH), repeats)
        rows.append((f"{label}: classify only, batches of {BATCH}", len(images), seconds))
    return rows


def one_image(model_path: pathlib.Path, onnx_path: pathlib.Path, png: pathlib.Path, threads: int, repeats: int) -> list[tuple[str, tuple[float, float]]]:
    import keras

    def with_keras():
        model = keras.models.load_model(model_path, compile=False)
        return np.asarray(model(arrays.to_model_input(predict_inputs.read_inputs([png]).stacked()), training=False))

    def with_onnx():
        return runtime.load(onnx_path, threads=threads).predict(predict_inputs.read_inputs([png]).stacked())

    with_keras(), with_onnx()  # warm the file cache and one-time set-up
    return [
        ("Keras (reference): load .keras + read + prepare + classify", timing.median_seconds(with_keras, repeats)),
        ("onnxruntime: load .onnx + read + prepare + classify", timing.median_seconds(with_onnx, repeats)),
        ("onnxruntime: load .onnx only", timing.median_seconds(lambda: runtime.load(onnx_path, threads=threads), repeats)),
    ]


def fresh_processes(model_path: pathlib.Path, onnx_path: pathlib.Path, png: pathlib.Path, repeats: int) -> list[tuple[str, tuple[float, float]]]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    one = "np.zeros((1, 28, 28), np.uint8)"
    commands = [
        ("Keras (reference): python -c 'import keras; load; classify one'", [
            sys.executable, "-c",
            f"import numpy as np, keras; m = keras.models.load_model({str(model_path)!r}, compile=False); m({one}[..., None].astype('float32'))",
        ]),
        ("onnxruntime: python -c 'import runtime; load; classify one'", [
            sys.executable, "-c", f"import numpy as np; from mnistflow.serving import runtime; runtime.load({str(onnx_path)!r}).predict({one})",
        ]),
        ("onnxruntime: python -m mnistflow predict one.png", [sys.executable, "-m", "mnistflow", "predict", str(png), "--model", str(onnx_path)]),
    ]
    rows = []
    for label, command in commands:
        subprocess.run(command, check=True, capture_output=True, env=environment)  # warm the file cache
        rows.append((label, timing.median_seconds(lambda c=command: subprocess.run(c, check=True, capture_output=True, env=environment), repeats)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/model.keras", type=pathlib.Path, help="the Keras model (trained quickly here when absent)")
    parser.add_argument("--csv", default="data/raw/mnist_test.csv", type=pathlib.Path, help="MNIST CSV (synthetic digits when absent)")
    parser.add_argument("--threads", default=runtime.DEFAULT_THREADS, type=int, help="onnxruntime intra-op threads")
    parser.add_argument("--repeats", default=5, type=int)
    args = parser.parse_args()

    import keras

    with tempfile.TemporaryDirectory() as name:
        directory = pathlib.Path(name)
        model_path, model_note = (args.model, f"model: {args.model}") if args.model.is_file() else quick_model(directory)
        csv_path, data_note = test_csv(args.csv, directory)
        keras_model = keras.models.load_model(model_path, compile=False)
        onnx_path = directory / "model.onnx"
        export.export_onnx(keras_model, onnx_path)
        classifier = runtime.load(onnx_path, threads=args.threads)
        reference = KerasReference(keras_model)
        print(model_note)
        print(data_note)
        print(f"onnxruntime threads: {args.threads}; cpus: {os.cpu_count()}; load average: {timing.load_average()}")

        images = predict_inputs.read_inputs([csv_path]).stacked()
        ours, theirs = predict.classify(classifier, images), predict.classify(reference, images)
        agree = float((ours.argmax(axis=1) == theirs.argmax(axis=1)).mean())
        print(f"agreement on {len(images):,} images: same digit {agree:.2%}, largest probability difference {np.abs(ours - theirs).max():.4f}")

        rows = batched(classifier, reference, csv_path, args.repeats)
        # images per CPU second: what the cores deliver when they are not shared (wall time on a
        # busy machine includes waiting for them).
        print("\n| batched | images | wall s | CPU s | images/s | images per CPU s | vs Keras (wall) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        rates = {name: count / wall for name, count, (wall, _) in rows}
        for name, count, (wall, cpu) in rows:
            keras_name = name.replace("onnxruntime", "Keras (reference)")
            print(f"| {name} | {count:,} | {wall:.3f} | {cpu:.3f} | {rates[name]:,.0f} | {count / cpu:,.0f} | {rates[name] / rates[keras_name]:.1f}x |")

        png = directory / "digit.png"
        Image.fromarray(255 - np.pad(images[0], 20)).resize((200, 200)).save(png)  # dark ink on white, larger
        single = one_image(model_path, onnx_path, png, args.threads, args.repeats)
        fresh = fresh_processes(model_path, onnx_path, png, max(3, args.repeats // 2))
    print("\n| one image | wall ms | CPU ms | vs Keras |")
    print("| --- | ---: | ---: | ---: |")
    for table in (single, fresh):
        base = table[0][1][0]
        for name, (wall, cpu) in table:
            print(f"| {name} | {wall * 1000:.1f} | {cpu * 1000:.1f} | {wall / base:.2f}x |")

    batched_name = f"onnxruntime: parse CSV + classify, batches of {BATCH}"
    batched_rate = rates[batched_name]
    batched_cpu = next(cpu for name, _, (_, cpu) in rows if name == batched_name)
    one_seconds = single[1][1][0]
    print(
        f"\ntarget >= {BATCHED_TARGET:,} images/s batched (parse + classify): {batched_rate:,.0f} -> "
        f"{'met' if batched_rate >= BATCHED_TARGET else 'MISSED'} ({len(images) / batched_cpu:,.0f} images per CPU second; "
        f"{args.threads} threads could give at most {args.threads * len(images) / batched_cpu:,.0f}/s on idle cores)"
    )
    print(f"target < {ONE_IMAGE_TARGET * 1000:.0f} ms one image incl. load: {one_seconds * 1000:.1f} ms -> "
          f"{'met' if one_seconds < ONE_IMAGE_TARGET else 'MISSED'}")
    print(f"load average after: {timing.load_average()}")


if __name__ == "__main__":
    main()
