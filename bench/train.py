"""Benchmark: our training recipes against the Keras "Simple MNIST convnet", on full MNIST.

    python bench/train.py                  # reference, default, fast: full data, tens of minutes
    python bench/train.py --quick          # 1 epoch on 6,000 images: checks the logic in minutes
    python bench/train.py --epochs 3 --configs reference,fast
    python bench/train.py --fast-command   # the `dvc exp run` command of the fast configuration

Every configuration trains through this project's pipeline (train.train_model: same input
pipeline, callbacks and checkpointing), each in its own process so peak memory is its own. After
every epoch the benchmark (and only the benchmark) evaluates test accuracy; that time is not
counted. The reference (keras.io/examples/vision/mnist_convnet: Conv2D 32 3x3 relu, MaxPool,
Conv2D 64 3x3 relu, MaxPool, Flatten, Dropout 0.5, Dense softmax; Adam, batch 128, 15 epochs)
trains on data/prepared/train.npz; ours on data/balanced/train.npz, both validate on val.npz. The
fast configuration is bench/fast.yaml: `-S` overrides of params.yaml.
Prints a table (wall and CPU seconds: the machine may be shared) and the ratios against the reference.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml

import timing  # bench/timing.py (this script's folder is first on sys.path)

REFERENCE = {
    "epochs": 15, "batch_size": 128, "optimizer": "adam", "learning_rate": 0.001, "schedule": "none",
    "warmup": 0.0, "label_smoothing": 0.0, "mixed_precision": False, "outlier_exposure": 0.0, "temperature_scaling": False,
    "model": {
        "blocks": [
            {"filters": 32, "kernel_size": 3, "padding": "valid", "pool": True},
            {"filters": 64, "kernel_size": 3, "padding": "valid", "pool": True},
        ],
        "dense_units": 0, "dropout": 0.5, "normalize": "rescale",
    },
    "augment": {"rotation": 0, "zoom": 0, "translation": 0, "noise": 0, "blur": 0},
}
FAST_PATH = pathlib.Path(__file__).with_name("fast.yaml")  # the fast configuration, defined once
CONFIGS = ("reference", "default", "fast")


def load_fast(path: pathlib.Path = FAST_PATH) -> dict:
    """The fast configuration: {"train.a.b": value} overrides of params.yaml, as `dvc exp run -S` takes them."""
    return yaml.safe_load(path.read_text())


def fast_command(overrides: dict) -> str:
    """The `dvc exp run` command that runs the fast configuration (docs/params.md shows it)."""
    return "dvc exp run -n fast " + " ".join(f"-S '{key}={hydra(value)}'" for key, value in overrides.items())


def set_dotted(all_params: dict, dotted: dict) -> dict:
    """Apply the {"train.a.b": value} overrides to a copy of the whole params mapping, as `-S` does."""
    all_params = json.loads(json.dumps(all_params))
    for key, value in dotted.items():
        *path, last = key.split(".")
        target = all_params
        for name in path:
            target = target.setdefault(name, {})
        target[last] = value
    return all_params


def run_one(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "src"))
    from mnistflow.core import arrays, params

    all_params, fast = params.load_params(args.params), load_fast()
    section = {"reference": REFERENCE, "default": all_params["train"], "fast": set_dotted(all_params, fast)["train"]}[args.one]
    if args.epochs:
        section = {**section, "epochs": args.epochs}
    unbalanced = args.one == "reference" or (args.one == "fast" and fast.get("oversample.method") == "none")
    train_path = pathlib.Path(args.prepared, "train.npz") if unbalanced else pathlib.Path(args.balanced)
    train = arrays.load_split(train_path)
    validation = arrays.load_split(pathlib.Path(args.prepared, "val.npz"))
    test = arrays.load_split(pathlib.Path(args.prepared, "test.npz"))
    if args.quick:
        train, validation, test = (tuple(a[:n] for a in split) for split, n in ((train, 6000), (validation, 1000), (test, 2000)))

    import keras
    import tensorflow as tf

    from mnistflow.training import train as training

    config = params.parse(training.TrainParams, section, key="train")
    seed = params.load_seed(args.params)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    test_inputs = arrays.to_model_input(test[0])

    class TestAccuracy(keras.callbacks.Callback):
        """Test accuracy after each epoch, and the training seconds when it first reached --target."""

        def __init__(self) -> None:
            super().__init__()
            self.per_epoch: list[float] = []
            self.seconds_to_target: float | None = None
            self.train_seconds = 0.0
            self.test_cpu_seconds = 0.0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.train_seconds += logs["epoch_seconds"]  # EpochLog's, measured before this callback runs
            cpu = timing.cpu_seconds()
            accuracy = float(np.mean(np.argmax(self.model.predict(test_inputs, batch_size=1000, verbose=0), 1) == test[1]))
            self.per_epoch.append(accuracy)
            self.test_cpu_seconds += timing.cpu_seconds() - cpu
            if accuracy >= args.target and self.seconds_to_target is None:
                self.seconds_to_target = self.train_seconds

    probe = TestAccuracy()
    cpu = timing.cpu_seconds()
    with tempfile.TemporaryDirectory() as scratch:
        model, summary = training.train_model(
            train, validation, config=config, seed=seed, live_dir=None,
            checkpoint_path=str(pathlib.Path(scratch, "checkpoint.npz")), fingerprint=f"bench-{time.time()}",
            extra_callbacks=[probe],
        )
    train_cpu_seconds = timing.cpu_seconds() - cpu - probe.test_cpu_seconds
    final = float(np.mean(np.argmax(model.predict(test_inputs, batch_size=1000, verbose=0), 1) == test[1]))
    if args.save_models:
        from mnistflow.core import atomic

        atomic.save_keras(model, pathlib.Path(args.save_models, f"{args.one}.keras"))
    return {
        "config": args.one, "train_images": len(train[1]), "epochs": summary["epochs_run"],
        "train_seconds": summary["train_seconds"], "train_cpu_seconds": train_cpu_seconds,
        "images_per_second": len(train[1]) * summary["epochs_run"] / summary["train_seconds"],
        "seconds_to_target": probe.seconds_to_target, "test_accuracy_per_epoch": probe.per_epoch,
        "final_test_accuracy": final, "best_epoch": summary["best_epoch"], "parameters": model.count_params(),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "load_average": timing.load_average(),
    }


def hydra(value) -> str:
    """A value in the override syntax of `dvc exp run -S` (Hydra's): [{filters:16,pool:true}]."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(hydra(v) for v in value) + "]"
    return value if isinstance(value, str) and value.isidentifier() else json.dumps(value)


def ratio(value: float | None, reference: float | None) -> str:
    return f"{value / reference:.2f}" if value and reference else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default="data/prepared", help="folder with train/val/test.npz")
    parser.add_argument("--balanced", default="data/balanced/train.npz")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--epochs", type=int, default=0, help="override every configuration's epochs")
    parser.add_argument("--quick", action="store_true", help="1 epoch on 6,000 images: checks the logic only")
    parser.add_argument("--target", type=float, default=0.99, help="test accuracy to time")
    parser.add_argument("--fast-command", action="store_true", help="print the dvc exp run command of the fast configuration")
    parser.add_argument("--save-models", metavar="DIR", help="also save each model as DIR/<config>.keras (bench/robustness.py)")
    parser.add_argument("--one", choices=CONFIGS, help=argparse.SUPPRESS)  # internal: run one configuration
    args = parser.parse_args()
    if args.fast_command:
        print(fast_command(load_fast()))
        return
    if args.quick and not args.epochs:
        args.epochs = 1
    if args.one:
        print("RESULT " + json.dumps(run_one(args)), flush=True)
        return

    results = {}
    for name in args.configs.split(","):
        command = [sys.executable, __file__, "--one", name, "--params", args.params, "--prepared", args.prepared,
                   "--balanced", args.balanced, "--epochs", str(args.epochs), "--target", str(args.target)]
        command += ["--quick"] if args.quick else []
        command += ["--save-models", args.save_models] if args.save_models else []
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        child = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
        if child.returncode != 0 or not lines:
            sys.exit(f"error: configuration {name} failed (exit {child.returncode}):\n{child.stderr[-3000:]}")
        results[name] = json.loads(lines[-1][len("RESULT "):])
        print(f"   done in {time.perf_counter() - started:.0f} s; test accuracy per epoch "
              f"{[round(a, 4) for a in results[name]['test_accuracy_per_epoch']]}", flush=True)

    print(f"\n| config | epochs | train s | train CPU s | images/s | s to {args.target:.1%} test acc | final test acc "
          "| peak RSS GiB | parameters | load at end |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, r in results.items():
        to_target = f"{r['seconds_to_target']:.0f}" if r["seconds_to_target"] is not None else "not reached"
        print(f"| {name} | {r['epochs']} | {r['train_seconds']:.0f} | {r['train_cpu_seconds']:.0f} | {r['images_per_second']:.0f} "
              f"| {to_target} | {r['final_test_accuracy']:.4f} | {r['peak_rss_gib']:.2f} | {r['parameters']} | {r['load_average']} |")
    reference = results.get("reference")
    if reference:
        print("\nratios against the reference (images/s: higher is faster; time to target and memory: lower is better)")
        for name, r in results.items():
            if name != "reference":
                print(f"  {name}: images/s x{ratio(r['images_per_second'], reference['images_per_second'])}, "
                      f"time to {args.target:.1%} x{ratio(r['seconds_to_target'], reference['seconds_to_target'])}, "
                      f"peak RSS x{ratio(r['peak_rss_gib'], reference['peak_rss_gib'])}")
    print("\nfast configuration: " + fast_command(load_fast()))


if __name__ == "__main__":
    main()
