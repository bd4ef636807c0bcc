"""Benchmark: what a training step costs on this machine, and how close it runs to the machine's peak.

    python bench/throughput.py                                   # the default train params
    python bench/throughput.py -S train.model.dense_units=128    # the default and each override set
    python bench/throughput.py -S 'train.model.blocks=[{filters: 32, kernel_size: 3, pool: true}]'

For each model (the default, then the default with all `-S` overrides applied, like `dvc exp run -S`):
its forward FLOPs per image, counted from the Keras model's Conv2D and Dense layers (the rest is
under 2%); training images/s through `fit` with the augmentation, top-hat and normalisation of the
params (random images, after a warm-up); and the GFLOP/s that achieves (a training step ~ 3x the
forward FLOPs). In the same run, two references: numpy's float32 matrix multiply (the machine's
practical peak) and the keras.io "Simple MNIST convnet" (a model users know). Each model trains in
a process of its own. Prints a table and the ratios against the references.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

BATCH, STEPS, WARMUP_STEPS = 128, 40, 4
MATMUL_SIDE, MATMUL_REPEATS = 2048, 10


def forward_flops(model) -> int:
    """Multiply-adds x 2 of every Conv2D and Dense layer for one image."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, channels_out = layer.output.shape
            kernel_h, kernel_w = layer.kernel_size
            channels_in = layer.input.shape[-1]
            total += 2 * height * width * kernel_h * kernel_w * channels_in * channels_out
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return total


def build(name: str, overrides: list[str]):
    """(model to train, FLOPs per image) for `name`: keras_io, or our params with `overrides`."""
    import keras

    if name == "keras_io":
        layers = keras.layers
        model = keras.Sequential([
            keras.Input(shape=(28, 28, 1)), layers.Rescaling(1 / 255),
            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        return model, forward_flops(model)

    import yaml

    from mnistflow.core import params
    from mnistflow.training import model as architecture
    from mnistflow.training.train import TrainParams

    section = params.load_params("params.yaml")["train"]
    for override in overrides:
        key, _, value = override.partition("=")
        *parents, leaf = key.removeprefix("train.").split(".")
        node = section
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = yaml.safe_load(value)
    config = params.parse(TrainParams, section, key="train")
    model = architecture.build_model(config.model, config.augment, fused_batch_norm=True)
    model.compile(optimizer=keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay),
                  loss="categorical_crossentropy")
    plain = architecture.build_model(config.model, architecture.NO_AUGMENTATION)
    return model, forward_flops(plain)


def measure_one(name: str, overrides: list[str]) -> dict[str, float]:
    import numpy as np

    model, flops = build(name, overrides)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(STEPS * BATCH, 28, 28, 1)).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(images))]
    model.fit(images[:WARMUP_STEPS * BATCH], labels[:WARMUP_STEPS * BATCH], batch_size=BATCH, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(images, labels, batch_size=BATCH, epochs=1, verbose=0)
    return {"flops": flops, "images_per_s": len(images) / (time.perf_counter() - start), "params": model.count_params()}


def matmul_gflops() -> float:
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((MATMUL_SIDE, MATMUL_SIDE), dtype=np.float32) for _ in range(2))
    a @ b  # warm up the BLAS threads
    start = time.perf_counter()
    for _ in range(MATMUL_REPEATS):
        a @ b
    return 2 * MATMUL_SIDE**3 * MATMUL_REPEATS / (time.perf_counter() - start) / 1e9


def in_process(name: str, overrides: list[str]) -> dict[str, float]:
    """One model measured in a fresh Python process (TensorFlow's state and threads start clean)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, __file__, "--one", name] + [arg for override in overrides for arg in ("-S", override)]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"error: measuring {name} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-S", dest="overrides", action="append", default=[], metavar="train.KEY=VALUE",
                        help="a train param override, as dvc exp run -S takes it; all apply to one second model")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.overrides)))
        return
    if any(not override.startswith("train.") or "=" not in override for override in args.overrides):
        sys.exit("error: -S takes train.KEY=VALUE (for example -S train.model.dense_units=128)")

    from timing import load_average

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, load average {load_average()} before")
    peak = matmul_gflops()
    rows = {"keras.io simple convnet (reference)": in_process("keras_io", []), "default": in_process("ours", [])}
    if args.overrides:
        rows[" ".join(args.overrides)] = in_process("ours", args.overrides)
    reference = rows["keras.io simple convnet (reference)"]["images_per_s"]
    print(f"numpy float32 matmul {MATMUL_SIDE}x{MATMUL_SIDE}: {peak:.0f} GFLOP/s (the machine's practical peak)")
    print("| model | params | MFLOP/image (forward) | train images/s | GFLOP/s (3x forward) | share of matmul peak | images/s vs reference |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in rows.items():
        achieved = 3 * row["flops"] * row["images_per_s"] / 1e9
        print(f"| {name} | {row['params']:,} | {row['flops'] / 1e6:.1f} | {row['images_per_s']:.0f} | {achieved:.1f} | "
              f"{achieved / peak:.0%} | {row['images_per_s'] / reference:.2f} |")


if __name__ == "__main__":
    main()
