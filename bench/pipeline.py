"""Benchmark: the training input pipeline, `training.train.batches`, against a Python-generator feed.

    python bench/pipeline.py              # one epoch of data/balanced/train.npz each way; about four minutes
    python bench/pipeline.py --steps 100  # a shorter check

Both feeds give the same batches (digits in each epoch's order, then 10% outliers): the reference
yields each batch from a Python generator through `tf.data.Dataset.from_generator`, as `batches`
did before 2026-12-01; `batches` lays each epoch out in numpy and lets tf.data slice it. Each runs
in its own process and trains the default model (augmentation included) on the oversample stage's
output (`dvc repro oversample`; random digits when it is absent). Prints digits/s (wall, and per
CPU-second: the steadier figure on a shared machine) and the ratios ours / reference.
"""
from __future__ import annotations

import os
import pathlib
import resource
import subprocess
import sys
import time

WARMUP, SAMPLES = 10, 20_000
TRAIN = pathlib.Path(__file__).resolve().parent.parent / "data/balanced/train.npz"


def generator_feed(images, labels, *, batch_size: int, seed: int, epochs: int, outlier_share: float):
    """The reference: one Python call per batch, as from_generator feeds it."""
    import numpy as np
    import tensorflow as tf

    from mnistflow.core import arrays, not_digits
    from mnistflow.training import train

    uniform = np.full((1, arrays.NUM_CLASSES), 1 / arrays.NUM_CLASSES, np.float32)

    def generate():
        for epoch in range(epochs):
            order = train.epoch_order(len(labels), seed=seed, epoch=epoch)
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                batch_images, batch_labels = images[rows], train.one_hot(labels[rows])
                extra = train.outlier_count(len(rows), outlier_share)
                scrambled = not_digits.scrambled(batch_images[:extra], np.random.default_rng([seed, epoch, start]))
                yield (arrays.to_model_input(np.concatenate([batch_images, scrambled])),
                       np.concatenate([batch_labels, np.repeat(uniform, extra, axis=0)]))

    signature = (tf.TensorSpec((None, arrays.SIDE, arrays.SIDE, 1), tf.float32), tf.TensorSpec((None, arrays.NUM_CLASSES), tf.float32))
    return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(4)


def run_one(feed: str, steps: int) -> tuple[float, float]:
    import numpy as np

    from mnistflow.core import arrays, params
    from mnistflow.training import train

    config = params.parse(train.TrainParams, {}, key="train")  # every default
    if TRAIN.is_file():
        images, labels = arrays.load_split(TRAIN)
    else:
        rng = np.random.default_rng(0)
        images, labels = rng.integers(0, 256, (SAMPLES, 28, 28), dtype=np.uint8), rng.integers(0, 10, SAMPLES).astype(np.uint8)
    steps = steps or train.steps_per_epoch(len(labels), config.batch_size) - WARMUP
    options = {"batch_size": config.batch_size, "seed": 1, "epochs": 2, "outlier_share": config.outlier_exposure}
    data = train.batches(images, labels, first_epoch=0, **options) if feed == "batches" else generator_feed(images, labels, **options)
    model = train.build_and_compile(config, steps_per_epoch=steps)
    model.fit(data, epochs=1, steps_per_epoch=WARMUP, verbose=0)  # trace and warm up
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - start
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    digits = steps * config.batch_size
    return digits / wall, digits / cpu


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(*run_one(sys.argv[2], int(sys.argv[3])))
        return
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 0
    print(f"data: {TRAIN if TRAIN.is_file() else f'{SAMPLES} random digits ({TRAIN} is absent)'}; load {os.getloadavg()[0]:.2f}", flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    results = {}
    for name in ("generator", "batches"):  # each in its own process, one after the other
        out = subprocess.run([sys.executable, __file__, "--one", name, str(steps)], env=env, capture_output=True, text=True, check=True)
        results[name] = tuple(float(value) for value in out.stdout.split()[-2:])
    print(f"{'feed':<26} {'digits/s':>10} {'per CPU-s':>10}")
    labels = {"generator": "reference: from_generator", "batches": "train.batches"}
    for name, (wall, per_cpu) in results.items():
        print(f"{labels[name]:<26} {wall:>10.0f} {per_cpu:>10.0f}")
    ours, reference = results["batches"], results["generator"]
    print(f"ratio train.batches / reference (higher is faster): {ours[0] / reference[0]:.2f} wall, {ours[1] / reference[1]:.2f} per CPU-s;"
          f" load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
