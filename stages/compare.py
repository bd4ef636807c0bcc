"""Stage compare: the CNN and every enabled baseline in one Markdown table, one plot CSV, one chart.

    python stages/compare.py --params params.yaml --baselines metrics/baselines \
        --cnn-evaluate metrics/evaluate.json \
        --table metrics/comparison.md --plot-data plots/compare/models.csv --chart plots/compare/models.png

The CNN row is left out (with a warning) when --cnn-evaluate is not given or its file does not exist.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import sys
from collections.abc import Sequence

from mnistflow.classical import baselines, compare
from mnistflow.core import atomic, cli, figures, params

log = logging.getLogger("stages.compare")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--baselines", required=True, type=pathlib.Path, help="folder of <name>.json")
    parser.add_argument("--cnn-evaluate", type=pathlib.Path)
    parser.add_argument("--table", required=True)
    parser.add_argument("--plot-data", required=True)
    parser.add_argument("--chart", required=True)
    args = parser.parse_args(argv)

    enabled = params.load_section(args.params, "baselines", baselines.BaselinesParams).enabled
    rows = []
    if args.cnn_evaluate is not None and args.cnn_evaluate.is_file():
        rows.append(compare.cnn_row(cli.read_json(args.cnn_evaluate, stage="evaluate"), source=str(args.cnn_evaluate)))
    else:
        log.warning("no CNN metrics (%s): the comparison has baselines only", args.cnn_evaluate)
    for name in enabled:
        path = args.baselines / f"{name}.json"
        rows.append(compare.baseline_row(name, cli.read_json(path, stage=f"baseline@{name}"), source=str(path)))
    log.info("comparing %d models: %s", len(rows), ", ".join(row.model for row in rows))

    figure = compare.chart(rows)
    atomic.write_text(args.table, compare.markdown_table(rows))
    atomic.write_text(args.plot_data, compare.plot_data_csv(rows))
    figures.save_png(figure, args.chart)


if __name__ == "__main__":
    sys.exit(cli.run(main))
