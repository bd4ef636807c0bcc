"""Stage summary: the headline figures `dvc exp show` compares experiments by, in one small file.

    python stages/summary.py --test-metrics metrics/evaluate.json --val-metrics metrics/evaluate_val.json \
        [--robustness metrics/robustness.json] [--field metrics/field.json] --out metrics/headline.json

The output is the pipeline's only declared metrics file; the files it reads are the detail, kept in
git and compared with `dvc metrics diff <rev> --targets <file>` (docs/experiments.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import sys
from collections.abc import Sequence

from mnistflow.core import atomic, cli
from mnistflow.evaluation import summary

log = logging.getLogger("summary")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test-metrics", required=True, type=pathlib.Path, help="the evaluate stage's test metrics (JSON)")
    parser.add_argument("--val-metrics", required=True, type=pathlib.Path, help="the evaluate stage's validation metrics (JSON)")
    parser.add_argument("--robustness", type=pathlib.Path, help="the robustness stage's metrics (JSON); optional")
    parser.add_argument("--field", type=pathlib.Path, help="the field_eval stage's metrics (JSON); optional")
    parser.add_argument("--out", required=True, help="the headline metrics file to write (JSON)")
    args = parser.parse_args(argv)

    test = cli.read_json(args.test_metrics, stage="evaluate")
    val = cli.read_json(args.val_metrics, stage="evaluate")
    robustness = cli.read_json(args.robustness, stage="robustness") if args.robustness is not None else None
    field = cli.read_json(args.field, stage="field_eval") if args.field is not None else None
    try:
        figures = summary.headline(test=test, val=val, robustness=robustness, field=field)
    except ValueError as error:
        sources = f"{args.test_metrics}, {args.val_metrics}" + (f", {args.robustness}" if args.robustness else "")
        raise ValueError(f"{error} (read {sources})") from None
    # Not key-sorted: the order is the column order in `dvc exp show` (summary.FIGURES).
    atomic.write_text(args.out, json.dumps(figures, indent=2) + "\n")
    log.info("wrote %s: %s", args.out, ", ".join(f"{key} {value}" for key, value in figures.items()))


if __name__ == "__main__":
    sys.exit(cli.run(main))
