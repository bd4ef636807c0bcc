"""End to end: two experiments on tiny data, read the way docs/experiments.md says a person reads them.

`dvc exp show --only-changed` on a 160-column terminal holds the changed params and the headline
figures in full; `dvc metrics diff --targets` reaches the per-digit detail, which is not declared.
"""
from __future__ import annotations

import json
import re

import pytest
import tiny

TINY = {**tiny.TINY, "baselines": {"enabled": []}}
EXPERIMENTS = {"more-epochs": ("train.epochs", "3"), "higher-rate": ("train.learning_rate", "0.03")}


def cells(line: str) -> list[str]:
    """A row of DVC's table as cells: columns are at least two spaces apart, cells hold single spaces."""
    return re.split(r"\s{2,}", line.strip())


def table_rows(table: str) -> list[list[str]]:
    """The header and rows of a DVC table as cells, its horizontal rules left out."""
    return [cells(line) for line in table.splitlines() if line.strip() and not set(line.strip()) <= {"─"}]


def shown(value) -> str:
    """A value as `dvc exp show` prints it (floats to 5 significant digits, its default precision)."""
    return f"{value:.5g}" if isinstance(value, float) else str(value)


@pytest.mark.e2e
def test_exp_show_only_changed_fits_160_columns_and_metrics_diff_targets_reaches_per_digit_detail(project, tiny_csvs):
    train_csv, test_csv = tiny_csvs
    project.set_params({**tiny.local_source(train_csv, test_csv), **TINY})
    project.commit("tiny params")
    dvc_yaml = (project.root / "dvc.yaml").read_text()
    project.dvc("repro", "summary")  # fetch .. evaluate and robustness, then summary; export and compare are not needed
    baseline = json.loads((project.root / "metrics/headline.json").read_text())
    assert list(baseline) == ["test_acc", "test_errors", "test_f1", "test_ece", "val_acc", "corrupted_acc"]
    assert (project.root / "dvc.yaml").read_text() == dvc_yaml  # dvclive declared nothing of its own
    assert not (project.root / "metrics/train/dvc.yaml").exists()
    project.commit("baseline")

    for name, (param, value) in EXPERIMENTS.items():
        project.dvc("exp", "run", "summary", "-S", f"{param}={value}", "-n", name)
    states = json.loads(project.dvc("exp", "show", "--json").stdout)
    headline = {exp["name"]: exp["revs"][0]["data"]["metrics"]["metrics/headline.json"]["data"]
                for state in states for exp in state.get("experiments") or []}
    assert set(headline) == set(EXPERIMENTS)
    changed = [key for key in baseline if len({baseline[key], *(figures[key] for figures in headline.values())}) > 1]
    assert "test_acc" in changed, (baseline, headline)

    project.env["COLUMNS"] = "160"
    table = project.dvc("exp", "show", "--no-pager", "--only-changed").stdout
    header, *rows = table_rows(table)
    assert header[:2] == ["Experiment", "Created"]
    columns = [*changed, *(param for param, _ in EXPERIMENTS.values())]
    assert set(columns) <= set(header), header  # by name: one metrics file declared, so no file prefix
    for name, (param, value) in EXPERIMENTS.items():
        [row] = [dict(zip(header, row)) for row in rows if f"[{name}]" in row[0]]
        assert row[param] == value, table
        for key in changed:
            assert row[key] == shown(headline[name][key]), (key, table)
    for row in [header, *rows]:
        # Every headline figure and param in full. What DVC cannot fit are the hashes of the
        # intermediate files that changed (models/model.keras, metrics/evaluate.json, ...): it
        # collapses them into one last `…` column; `--drop '.*/'` leaves them out (docs/experiments.md).
        assert not any("…" in cell for cell in row[:-1]), table
    without_deps = project.dvc("exp", "show", "--no-pager", "--only-changed", "--drop", ".*/").stdout
    assert "…" not in without_deps and set(columns) <= set(table_rows(without_deps)[0]), without_deps

    # The per-digit detail is not declared, so only --targets reaches it; the headline needs none.
    assert "per_digit" not in project.dvc("metrics", "diff", "main", "more-epochs").stdout
    detail = project.dvc("metrics", "diff", "main", "more-epochs", "--targets", "metrics/evaluate.json").stdout
    header, *rows = table_rows(detail)
    assert header == ["Path", "Metric", "main", "more-epochs", "Change"]
    per_digit = [row for row in rows if row[0] == "metrics/evaluate.json" and row[1].startswith("per_digit.")]
    assert any(old != new for _, _, old, new, _ in per_digit), detail
