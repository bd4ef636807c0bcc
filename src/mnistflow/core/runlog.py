"""Run logs: a stage's wall-clock figures, kept out of every output that git or DVC compares.

    figures, seconds = runlog.split(metrics)           # the `*_seconds` keys go to `seconds`
    atomic.write_json(args.metrics, figures)            # tracked: the same bytes on every re-run
    runlog.write(args.run_log, stage="baseline@sgd", seconds=seconds)  # logs/baseline@sgd.json

Timings change on every run, so in a metrics file or plot they would dirty git after an identical
re-run and fill `dvc metrics diff` with noise. A run log is one JSON file per stage under `logs/`
(git-ignored, not a DVC output), rewritten by each run, plus one line in the stage's log.
"""
from __future__ import annotations

import datetime
import logging
import os
import pathlib
from collections.abc import Mapping
from typing import Any

from mnistflow.core import atomic

log = logging.getLogger(__name__)

DIRECTORY = pathlib.Path("logs")  # relative to the working directory: DVC runs stages in the project root
SUFFIX = "_seconds"  # a figure named so is a wall-clock time


def is_timing(name: str) -> bool:
    return name.endswith(SUFFIX)


def split(figures: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the figures that are not timings, the timings), each in the original order."""
    kept = {name: value for name, value in figures.items() if not is_timing(name)}
    seconds = {name: value for name, value in figures.items() if is_timing(name)}
    return kept, seconds


def default_path(stage: str) -> pathlib.Path:
    return DIRECTORY / f"{stage}.json"


def write(path: str | os.PathLike[str], *, stage: str, seconds: Mapping[str, Any]) -> None:
    """Write the run log `path` (stage, local finishing time, `seconds`) and log it in one line."""
    finished = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    atomic.write_json(path, {"stage": stage, "finished": finished, **seconds})
    log.info("%s took %s (run log %s)", stage, ", ".join(f"{name} {_format(value)}" for name, value in seconds.items()), path)


def _format(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(item) for item in value) + "]"
    return f"{value:.2f}" if isinstance(value, float) else str(value)
