"""Benchmark: training steps of the default architecture in float32 against mixed bfloat16.

    python bench/precision.py            # 20 batches of 128 random images each way; a minute or two

bfloat16 pays only on CPUs with AMX or AVX-512 BF16; elsewhere TensorFlow emulates it and it is
several times slower. Prints images/s (wall, and per CPU-second: the machine may be shared) and
the ratio mixed / float32, so `train.mixed_precision` can be set for the machine at hand.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

BATCHES, BATCH = 20, 128


def run_one(mixed: bool) -> tuple[float, float]:
    import numpy as np

    from mnistflow.training import model as architecture

    net = architecture.build_model(architecture.ArchitectureParams(), architecture.AugmentParams(), mixed_precision=mixed, fused_batch_norm=True)
    net.compile(optimizer="adamw", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(BATCHES * BATCH, 28, 28, 1)).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(images))]
    net.fit(images[:2 * BATCH], labels[:2 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # trace and warm up
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    net.fit(images, labels, batch_size=BATCH, epochs=1, verbose=0)
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - start
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return len(images) / wall, len(images) / cpu


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(*run_one(sys.argv[2] == "mixed"))
        return
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    results = {}
    for name in ("float32", "mixed"):  # each in its own process: the dtype policy is per model, TF state is not
        out = subprocess.run([sys.executable, __file__, "--one", name], env=env, capture_output=True, text=True, check=True)
        results[name] = tuple(float(value) for value in out.stdout.split()[-2:])
    print(f"{'precision':<10} {'images/s':>10} {'per CPU-s':>10}")
    for name, (wall, per_cpu) in results.items():
        print(f"{name:<10} {wall:>10.0f} {per_cpu:>10.0f}")
    print(f"ratio mixed / float32 (images/s, higher is faster): {results['mixed'][0] / results['float32'][0]:.2f}")


if __name__ == "__main__":
    main()
