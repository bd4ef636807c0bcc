"""Train the project's CNN (mnistflow.training.train) under `train.distribution`; run by tests/test_distribute.py.

    python tests/distributed_run.py --kind mirrored --logical-cpus 2 --params p.yaml \
        --train train.npz --val val.npz --model m.keras --checkpoint ckpt.npz

What stages/train.py does, but with the one CPU split into N logical devices first (a host with
one CPU and no GPU has a single device otherwise). Prints one JSON line: {"replicas": N,
"writes_outputs": bool, "own_file": worker_path("ckpt.npz")}. Only the chief saves the model.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--kind", "--params", "--train", "--val", "--model", "--checkpoint"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--logical-cpus", type=int, default=0)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from mnistflow.core import arrays, params
    from mnistflow.training import distribute, train as training
    from mnistflow.training.config import TrainParams

    devices = None
    if args.logical_cpus:  # before TensorFlow starts its runtime
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
        devices = [f"/cpu:{index}" for index in range(args.logical_cpus)]
    strategy = distribute.make_strategy(args.kind, tf_config=os.environ.get("TF_CONFIG"), devices=devices)
    config = params.load_section(args.params, "train", TrainParams)
    seed = params.load_seed(args.params)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model, _ = training.train_model(
            arrays.load_split(args.train), arrays.load_split(args.val), config=config, seed=seed,
            live_dir=None, checkpoint_path=distribute.worker_path(args.checkpoint, strategy), fingerprint={"run": "test"},
            replicas=distribute.replicas(strategy),
        )
    if distribute.writes_outputs(strategy):
        model.save(args.model)
    print(json.dumps({
        "replicas": distribute.replicas(strategy),
        "writes_outputs": distribute.writes_outputs(strategy),
        "own_file": distribute.worker_path("ckpt.npz", strategy),
    }))


if __name__ == "__main__":
    sys.exit(main())
