"""Benchmark: the stages after `train` in `dvc repro`, and the corruption suite on onnxruntime against Keras.

    python bench/stages.py                      # needs the pipeline's outputs: dvc repro, or dvc checkout
    python bench/stages.py --keras-corruptions 0   # the stage timings only

1. Each stage after train (export, evaluate, robustness, summary, compare) re-run alone,
   `dvc repro --single-item --force <stage>` (wall and CPU seconds, DVC's own start-up included),
   then all five in one `dvc repro --single-item --force` (what an experiment pays after training).
   The outputs are rewritten with the same bytes, so git stays clean.
2. The first --keras-corruptions corruptions of data/corrupted/test.npz predicted by
   models/model.keras (`model.predict`, batches of 1,000: the reference, how the robustness stage
   predicted before 2026-12-03) and by models/model.onnx on `serving.runtime` (the stage's way
   today, batches of `robustness.batch_size`), each in its own process: images/s and the ratio.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import time

import timing  # bench/timing.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
STAGES = ("export", "evaluate", "robustness", "summary", "compare")
# Run in a fresh process: images/s of one predictor on the first N corruptions of the test suite.
PREDICT = """
import os, sys, time
import numpy as np
from mnistflow.core import arrays, params
from mnistflow.evaluation import robustness
which, count = sys.argv[1], int(sys.argv[2])
suite, _ = arrays.load_suite("data/corrupted/test.npz")
images = np.concatenate([suite[name] for name in list(suite)[:count]])
if which == "keras":
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    model = keras.models.load_model("models/model.keras", compile=False)
    predict = lambda batch: model.predict(arrays.to_model_input(batch), batch_size=1000, verbose=0)
else:
    from mnistflow.serving import runtime
    batch_size = params.load_section("params.yaml", "robustness", robustness.RobustnessParams).batch_size
    classifier = runtime.load("models/model.onnx", spinning=False)  # as the stage runs it
    predict = lambda batch: classifier.predict(batch, batch_size=batch_size)
predict(images[:1000])  # warm-up: graph tracing, session start
start = time.perf_counter()
predict(images)
print(len(images) / (time.perf_counter() - start))
"""


def run(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of `command` (its children included), with this Python's bin directory (the
    venv's: `dvc`, and the `python` that dvc.yaml's commands run) first on PATH."""
    env = {**os.environ, "PATH": str(pathlib.Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    wall, cpu = time.perf_counter(), timing.cpu_seconds()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return time.perf_counter() - wall, timing.cpu_seconds() - cpu


def images_per_second(which: str, corruptions: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", PREDICT, which, str(corruptions)], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras-corruptions", type=int, default=3, help="corruptions of the test suite in part 2 (0: skip it)")
    args = parser.parse_args()
    dvc = str(pathlib.Path(sys.executable).with_name("dvc"))
    print(f"load average before: {timing.load_average()}")
    print(f"{'stage':<32} {'wall s':>8} {'CPU s':>8}")
    for stage in STAGES:
        wall, cpu = run([dvc, "repro", "--single-item", "--force", stage])
        print(f"{stage:<32} {wall:>8.1f} {cpu:>8.1f}")
    wall, cpu = run([dvc, "repro", "--single-item", "--force", *STAGES])
    print(f"{'all five, one dvc repro':<32} {wall:>8.1f} {cpu:>8.1f}")
    if args.keras_corruptions:
        keras = images_per_second("keras", args.keras_corruptions)
        onnx = images_per_second("onnx", args.keras_corruptions)
        print(f"\n{'predictor (' + str(args.keras_corruptions) + ' corruptions of test)':<40} {'images/s':>9}")
        print(f"{'reference: Keras model.predict':<40} {keras:>9.0f}")
        print(f"{'serving.runtime on model.onnx':<40} {onnx:>9.0f}")
        print(f"ratio onnxruntime / Keras: {onnx / keras:.2f}")
    print(f"load average after: {timing.load_average()}")


if __name__ == "__main__":
    main()
