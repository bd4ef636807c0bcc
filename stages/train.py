"""Stage `train`: fit the CNN on the balanced training split, choosing weights by validation.

    python stages/train.py --params params.yaml --train data/balanced/train.npz \
        --val data/prepared/val.npz --model models/model.keras --live metrics/train \
        --checkpoint .cache/train/checkpoint.npz

Killed mid-run, the next run resumes after the last finished epoch from --checkpoint (kept
outside DVC's outputs, which DVC deletes before re-running a stage); it is deleted on success.
A checkpoint written for other params, data or training code (this script, the `training` and
`core` packages: the folders of the stage's deps) is ignored, with a log line saying which.
The test split is never read here. Wall-clock times (seconds per epoch, in all) go to the run log
(--run-log, default logs/train.json, git-ignored), not to the tracked dvclive files.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import pathlib
import sys

import mnistflow
from mnistflow import core, training
from mnistflow.core import arrays, atomic, cli, params, runlog
from mnistflow.training import distribute
from mnistflow.training.config import TrainParams

log = logging.getLogger("train")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--train", required=True, help="balanced training split (.npz)")
    parser.add_argument("--val", required=True, help="validation split (.npz), never resampled")
    parser.add_argument("--model", required=True, help="the trained model (.keras)")
    parser.add_argument("--card", required=True, help="the model's temperature and unsure threshold (.json)")
    parser.add_argument("--live", required=True, help="dvclive directory: per-epoch metrics and plots")
    parser.add_argument("--checkpoint", required=True, help="resume checkpoint (.npz), outside DVC's outputs")
    parser.add_argument("--run-log", default=str(runlog.default_path("train")), help="wall-clock times (JSON, git-ignored)")
    args = parser.parse_args(argv)

    # Everything that can be wrong is checked before TensorFlow is even imported.
    config = params.load_section(args.params, "train", TrainParams)
    seed = params.load_seed(args.params)
    train = arrays.load_split(args.train)
    validation = arrays.load_split(args.val)
    if config.distribution == "multi_worker":
        distribute.parse_tf_config(os.environ.get("TF_CONFIG"))  # a bad cluster fails before the import
    log.info("train %s counts %s; val %s counts %s", train[0].shape, arrays.class_counts(train[1]).tolist(),
             validation[0].shape, arrays.class_counts(validation[1]).tolist())

    import keras
    import tensorflow as tf

    from mnistflow.training import resume, train as trainer

    # First: multi_worker sets up TensorFlow's runtime, which must happen before it runs anything.
    strategy = distribute.make_strategy(config.distribution, tf_config=os.environ.get("TF_CONFIG"))
    chief = distribute.writes_outputs(strategy)  # only the chief writes the model and metrics
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    code = resume.python_files(__file__, mnistflow.__file__, *core.__path__, *training.__path__)
    fingerprint = resume.fingerprint(params=(dataclasses.asdict(config), seed), data=(args.train, args.val), code=code)
    checkpoint = args.checkpoint if chief else distribute.worker_path(args.checkpoint, strategy)
    with strategy.scope():
        model, summary = trainer.train_model(
            train, validation, config=config, seed=seed, live_dir=args.live if chief else None,
            checkpoint_path=checkpoint, fingerprint=fingerprint, replicas=distribute.replicas(strategy),
        )
    if chief:
        atomic.save_keras(model, args.model)
        atomic.write_json(args.card, {key: summary[key] for key in ("temperature", "unsure_threshold")})
    pathlib.Path(checkpoint).unlink(missing_ok=True)
    figures, seconds = runlog.split(summary)
    if not chief:
        log.info("not the chief: trained (%s), left the outputs to the chief", figures)
        return
    log.info("wrote %s (%d parameters): %s", args.model, model.count_params(), figures)
    runlog.write(args.run_log, stage="train", seconds=seconds)


if __name__ == "__main__":
    sys.exit(cli.run(main))
