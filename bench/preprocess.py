"""Benchmark: reading the MNIST CSVs and the whole preprocess stage, on the full 70,000 rows.

    python bench/preprocess.py [TRAIN_CSV TEST_CSV] [--repeats 3]

Defaults to data/raw/mnist_{train,test}.csv (run `dvc repro fetch` first). Prints the median wall
time of (a) mnistflow.core.mnist_csv.read_csv on both files, (b) the reference measured in the same run,
pandas.read_csv with its default C engine on the same files, and (c) the whole stage as DVC runs it
(`python stages/preprocess.py ...`: interpreter start, imports, both reads, split, .npz, plots),
with the ratios. The target is (c) under 5 s on 2 cores. The machine's load average is printed too:
other processes inflate the wall times; the CPU seconds (user + system, all threads) much less so.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import pandas as pd
import yaml

from mnistflow.core import mnist_csv
from timing import load_average, median_seconds  # bench/timing.py

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_stage(train_csv: pathlib.Path, test_csv: pathlib.Path, out: pathlib.Path) -> None:
    params = out / "params.yaml"
    params.write_text(yaml.safe_dump({"seed": 42, "preprocess": {"val_fraction": 0.1}}))
    outputs = {
        "--train-out": "train.npz", "--val-out": "val.npz", "--test-out": "test.npz",
        "--train-counts": "train.csv", "--val-counts": "val.csv", "--test-counts": "test.csv",
        "--counts-png": "counts.png", "--samples-png": "samples.png",
    }
    command = [sys.executable, str(ROOT / "stages" / "preprocess.py"), "--params", str(params),
               "--train-csv", str(train_csv), "--test-csv", str(test_csv)]
    for flag, name in outputs.items():
        command += [flag, str(out / name)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_csv", nargs="?", default="data/raw/mnist_train.csv", type=pathlib.Path)
    parser.add_argument("test_csv", nargs="?", default="data/raw/mnist_test.csv", type=pathlib.Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = (args.train_csv, args.test_csv)

    ours = median_seconds(lambda: [mnist_csv.read_csv(path) for path in files], args.repeats)
    reference = median_seconds(lambda: [pd.read_csv(path) for path in files], args.repeats)
    with tempfile.TemporaryDirectory() as directory:
        stage = median_seconds(lambda: run_stage(*files, pathlib.Path(directory)), args.repeats)
    rows = sum(len(mnist_csv.read_csv(path)[1]) for path in files)

    load = load_average()
    print(f"preprocess benchmark: {rows} rows, {os.cpu_count()} CPUs, load average {load}, median of {args.repeats}")
    print(f"{'what':<52} {'wall s':>7} {'CPU s':>7}")
    for name, (wall, cpu) in [
        ("pandas.read_csv, C engine (reference), both CSVs", reference),
        ("mnist_csv.read_csv (pyarrow + checks), both CSVs", ours),
        ("whole stage: python stages/preprocess.py", stage),
    ]:
        print(f"{name:<52} {wall:>7.2f} {cpu:>7.2f}")
    print(f"read speed-up over the reference (wall): {reference[0] / ours[0]:.2f}x")
    print(f"whole stage / reference read (wall): {stage[0] / reference[0]:.2f}x; "
          f"target: stage under 5 s -> {'met' if stage[0] < 5 else 'NOT met'} (on a loaded machine, see the load)")

if __name__ == "__main__":
    main()
