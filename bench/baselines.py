"""Time every classical baseline with the params in params.yaml: CV, fit, predict, accuracy.

    python bench/baselines.py                      # data/prepared/{train,test}.npz (after dvc repro)
    python bench/baselines.py --train /tmp/full/train.npz --test /tmp/full/test.npz --models sgd knn

Prints one row per model and the ratio of its CPU time (CV + fit + predict) to the `sgd` baseline's,
measured in the same run (sgd runs first as the reference even when not asked for), plus the load
average: the figures only compare within one run on one machine. "CPU s" is the processor time of
this process and its worker processes for the model: on a shared, loaded machine wall time grows with
the load, CPU time hardly; CPU s bounds the wall time on one idle core, CPU s / 2 on two.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

from joblib.externals import loky

import timing  # bench/timing.py
from mnistflow.classical import baselines
from mnistflow.core import arrays, params

REFERENCE = "sgd"


def cpu_seconds() -> float:
    """CPU seconds of this process and its children: joblib's workers count once they have exited."""
    loky.get_reusable_executor().shutdown(wait=True)
    return timing.cpu_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", default="data/prepared/train.npz")
    parser.add_argument("--test", default="data/prepared/test.npz")
    parser.add_argument("--models", nargs="+", default=list(baselines.MODEL_NAMES), choices=baselines.MODEL_NAMES)
    args = parser.parse_args()

    settings = params.load_section(args.params, "baselines", baselines.BaselinesParams)
    seed = params.load_seed(args.params)
    train = arrays.load_split(args.train)
    test = arrays.load_split(args.test)
    names = [REFERENCE] + [name for name in args.models if name != REFERENCE]
    print(f"train {len(train[1])} images ({pathlib.Path(args.train)}), test {len(test[1])}; "
          f"cv {settings.cv.folds} folds on at most {settings.cv.max_samples}; n_jobs {settings.n_jobs}; "
          f"{os.cpu_count()} CPUs, load average {timing.load_average()} at start")
    header = (f"| {'model':<13} | {'fit on':>6} | {'CV accuracy':>15} | {'CV s':>6} | {'fit s':>6} | {'predict s':>9} | {'total s':>7} "
              f"| {'CPU s':>6} | {'test acc':>8} | {'macro F1':>8} | {'x sgd':>6} |")
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    reference_seconds = None
    grand_total = grand_cpu = 0.0
    for name in names:
        cpu_started = cpu_seconds()
        started = time.perf_counter()
        _, result = baselines.run(
            name, baselines.model_params(settings, name), cv=settings.cv, train=train, test=test,
            seed=seed, n_jobs=settings.n_jobs,
        )
        total = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_started
        grand_total += total
        grand_cpu += cpu
        reference_seconds = reference_seconds or cpu
        cv = f"{result['cv_accuracy_mean']:.4f} ± {result['cv_accuracy_std']:.4f}"
        print(f"| {name:<13} | {result['train_samples']:>6} | {cv:>15} | {result['cv_seconds']:>6.1f} | "
              f"{result['fit_seconds']:>6.1f} | {result['predict_seconds']:>9.2f} | {total:>7.1f} | {cpu:>6.1f} | "
              f"{result['accuracy']:>8.4f} | {result['f1_macro']:>8.4f} | {cpu / reference_seconds:>6.1f} |", flush=True)
    print(f"all {len(names)} models: {grand_total:.0f} s wall, {grand_cpu:.0f} s CPU; load average {timing.load_average()} at the end")


if __name__ == "__main__":
    sys.exit(main())
