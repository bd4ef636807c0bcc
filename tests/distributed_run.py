"""Train a tiny CNN under a `train.distribution` strategy; run as a process by tests/test_distribute.py.

    python tests/distributed_run.py --kind mirrored --logical-cpus 2 --data d.npz --model m.keras
    TF_CONFIG='{...}' python tests/distributed_run.py --kind multi_worker --data d.npz --model m.keras

Prints one JSON line: {"replicas": N, "writes_outputs": bool, "own_file": worker_path("ckpt.npz")}.
Only the chief saves the model.
`train` is also imported by the tests for the single-device reference run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def train(strategy, images: np.ndarray, labels: np.ndarray, *, seed: int, epochs: int, batch_size: int):
    import keras

    from mnistflow import arrays, distribute

    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    batches = distribute.global_batches(arrays.to_model_input(images), labels, global_batch_size=batch_size)
    model.fit(batches, epochs=epochs, shuffle=False, verbose=0)
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--logical-cpus", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import tensorflow as tf

    from mnistflow import arrays, distribute

    devices = None
    if args.logical_cpus:  # split the one CPU into N devices, before TensorFlow starts its runtime
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
        devices = [f"/cpu:{index}" for index in range(args.logical_cpus)]
    strategy = distribute.make_strategy(args.kind, tf_config=os.environ.get("TF_CONFIG"), devices=devices)
    images, labels = arrays.load_split(args.data)
    model = train(strategy, images, labels, seed=args.seed, epochs=args.epochs, batch_size=args.batch_size)
    if distribute.writes_outputs(strategy):
        model.save(args.model)
    print(json.dumps({
        "replicas": distribute.replicas(strategy),
        "writes_outputs": distribute.writes_outputs(strategy),
        "own_file": distribute.worker_path("ckpt.npz", strategy),
    }))


if __name__ == "__main__":
    sys.exit(main())
