"""The headline figures of a run: the few that `dvc exp show` compares experiments by.

    headline(test=<metrics/evaluate.json>, val=<metrics/evaluate_val.json>, robustness=<metrics/robustness.json>)

The `summary` stage writes them to metrics/headline.json, the pipeline's one declared metrics file,
so `dvc exp show` has six short columns instead of every per-digit figure (docs/experiments.md says
why these six). The detail files stay in git and are compared with `dvc metrics diff --targets`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (headline key, source, path of keys in the source): the order is the column order in `dvc exp show`.
# Keys are short so the columns fit a terminal (DVC drops the file name when one metrics file is declared).
FIGURES = [
    ("test_acc", "test", ("accuracy",)),
    ("test_errors", "test", ("errors",)),
    ("test_f1", "test", ("f1_macro",)),
    ("test_ece", "test", ("calibration", "ece")),  # only when evaluate writes calibration
    ("val_acc", "val", ("accuracy",)),
    ("corrupted_acc", "robustness", ("mean_corrupted_accuracy",)),  # only with robustness metrics
    ("field_acc", "field", ("accuracy",)),  # only with field metrics that have digits (docs/field.md)
]
# Figures not every run has yet -> the section of their source that holds them (None: the whole
# source). They are left out when that is absent; any other missing key is an error.
OPTIONAL = {"test_ece": "calibration", "corrupted_acc": None, "field_acc": None}


def headline(
    *, test: Mapping[str, Any], val: Mapping[str, Any], robustness: Mapping[str, Any] | None = None,
    field: Mapping[str, Any] | None = None,
) -> dict[str, float | int]:
    """The headline figures from the loaded test, validation and (optional) robustness metrics.

    test_ece appears when `test` has "calibration"; corrupted_acc when `robustness` is given;
    field_acc when `field` is given and has an accuracy (null: no field digits, so no figure).
    """
    sources = {"test": test, "val": val, "robustness": robustness, "field": field}
    result: dict[str, float | int] = {}
    for key, source, path in FIGURES:
        value: Any = sources[source]
        if key in OPTIONAL and (value is None or (OPTIONAL[key] is not None and OPTIONAL[key] not in value)):
            continue
        for depth, name in enumerate(path):
            if not isinstance(value, Mapping) or name not in value:
                where = ".".join(path[: depth + 1])
                raise ValueError(
                    f"the {source} metrics have no {where!r} (needed for {key}): "
                    f"re-run the stage that writes them (dvc repro)"
                )
            value = value[name]
        if value is None and key in OPTIONAL:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"the {source} metrics' {'.'.join(path)!r} must be a number; got {value!r}")
        result[key] = value
    return result
