"""Stage baseline@<name>: cross-validate, fit and score one classical model; save it and its metrics.

    python stages/baseline.py --params params.yaml --name sgd --train data/prepared/train.npz \
        --test data/prepared/test.npz --model models/baselines/sgd.joblib --metrics metrics/baselines/sgd.json

Wall-clock times (cross-validation, fit, predict) go to the run log (--run-log, default
logs/baseline@<name>.json, git-ignored), not to the tracked metrics.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import joblib

from mnistflow.classical import baselines
from mnistflow.core import arrays, atomic, cli, params, runlog

log = logging.getLogger("stages.baseline")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--name", required=True, help="one of: " + ", ".join(baselines.MODEL_NAMES))
    parser.add_argument("--train", required=True, help="split to cross-validate and fit on")
    parser.add_argument("--test", required=True)
    parser.add_argument("--model", required=True, help="fitted pipeline (joblib)")
    parser.add_argument("--metrics", required=True, help="JSON metrics")
    parser.add_argument("--run-log", help="wall-clock times (JSON, git-ignored); default logs/baseline@<name>.json")
    args = parser.parse_args(argv)

    settings = params.load_section(args.params, "baselines", baselines.BaselinesParams)
    model_params = baselines.model_params(settings, args.name)
    seed = params.load_seed(args.params)
    train = arrays.load_split(args.train)
    test = arrays.load_split(args.test)
    log.info("%s: train %s, class counts %s; test %s", args.name, train[0].shape, arrays.class_counts(train[1]).tolist(), test[0].shape)

    model, metrics = baselines.run(
        args.name, model_params, cv=settings.cv, train=train, test=test, seed=seed, n_jobs=settings.n_jobs
    )
    with atomic.atomic_path(args.model) as temporary:
        joblib.dump(model, temporary, compress=3)
    figures, seconds = runlog.split(metrics)
    atomic.write_json(args.metrics, figures)
    log.info("%s: wrote %s and %s", args.name, args.model, args.metrics)
    stage = f"baseline@{args.name}"
    runlog.write(args.run_log or runlog.default_path(stage), stage=stage, seconds=seconds)


if __name__ == "__main__":
    sys.exit(cli.run(main))
