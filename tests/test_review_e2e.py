"""End to end: the review loop on tiny data. One `dvc repro summary` (fetch .. train, export,
evaluate, corrupt, ood, robustness, summary), two experiments that each change one param, and what a
reviewer reads of them: `dvc exp show`, `dvc metrics diff` (the headline, then the detail by
`--targets`) and `make report` (which runs `dvc plots diff`).

One pipeline and one pair of experiments serve every check: each `dvc exp run` costs several
TensorFlow start-ups, so the checks are parts of one test rather than tests that each reproduce it.
`dvc exp show --only-changed` on a 160-column terminal holds the changed params and the headline
figures in full (docs/experiments.md).
"""
from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import yaml
from PIL import Image

import tiny

TINY = {**tiny.TINY, "baselines": {"enabled": []}}
# The first runs in a temporary copy (--temp), so the second starts from the baseline's params; the
# second stays in the workspace, which `dvc metrics diff main` and `make report` compare with main.
EXPERIMENTS = {"higher-rate": ("train.learning_rate", "0.03"), "more-epochs": ("train.epochs", "4")}


def cells(line: str) -> list[str]:
    """A row of DVC's table as cells: columns are at least two spaces apart, cells hold single spaces."""
    return re.split(r"\s{2,}", line.strip())


def table_rows(table: str) -> list[list[str]]:
    """The header and rows of a DVC table as cells, its horizontal rules left out."""
    return [cells(line) for line in table.splitlines() if line.strip() and not set(line.strip()) <= {"─"}]


def shown(value) -> str:
    """A value as `dvc exp show` prints it (floats to 5 significant digits, its default precision)."""
    return f"{value:.5g}" if isinstance(value, float) else str(value)


def read_json(root, path: str) -> dict:
    return json.loads((root / path).read_text())


def correct_on_test_split(root) -> np.ndarray:
    """Whether models/model.onnx, the model that ships, classifies each image of data/prepared/test.npz right."""
    from mnistflow.core import arrays
    from mnistflow.serving import runtime

    images, labels = arrays.load_split(root / "data/prepared/test.npz")
    return runtime.load(root / "models/model.onnx").predict(images).argmax(axis=1) == labels


def check_evaluate(root) -> None:
    """evaluate reports the exported model's own accuracy on the test split, and writes every declared plot."""
    evaluated = read_json(root, "metrics/evaluate.json")
    correct = correct_on_test_split(root)
    assert (evaluated["samples"], evaluated["errors"]) == (100, int(np.sum(~correct)))
    assert evaluated["accuracy"] == pytest.approx(np.mean(correct), abs=1e-6)
    assert read_json(root, "metrics/evaluate_val.json")["samples"] == 60
    declared = [path for entry in yaml.safe_load((root / "dvc.yaml").read_text())["plots"]
                for path in ([entry] if isinstance(entry, str) else next(iter(entry.values()))["y"])]
    evaluate_plots = [path for path in declared if path.startswith("plots/evaluate/")]
    assert len(evaluate_plots) == 9
    for path in evaluate_plots:
        assert (root / path).is_file(), f"declared plot {path} was not written"
    with open(root / "plots/evaluate/roc.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 20


def check_robustness(root) -> None:
    """robustness scores the suite with the model evaluate scored; the model card carries calibration."""
    robustness = read_json(root, "metrics/robustness.json")
    assert list(robustness["accuracy"]) == ["brightness", "fog", "zigzag"]
    assert robustness["mean_corrupted_accuracy"] == pytest.approx(np.mean(list(robustness["accuracy"].values())), abs=1e-6)
    assert robustness["worst_accuracy"] == min(robustness["accuracy"].values())
    clean = read_json(root, "metrics/evaluate.json")
    assert robustness["clean_accuracy"] == pytest.approx(clean["accuracy"], abs=1e-6)  # one model, two stages agree
    card = read_json(root, "models/model.json")
    assert clean["calibration"]["temperature"] == card["temperature"] > 0
    assert clean["ood"]["ood_images"] == 50 and clean["ood"]["unsure_threshold"] == card["unsure_threshold"]
    rows = (root / "plots/robustness/accuracy.csv").read_text().splitlines()
    assert rows[0] == "corruption,accuracy" and [row.split(",")[0] for row in rows[1:]] == ["clean", "brightness", "fog", "zigzag"]
    with Image.open(root / "plots/robustness/examples.png") as image:
        assert image.format == "PNG"


@pytest.mark.e2e
def test_two_experiments_show_in_exp_show_metrics_diff_and_make_report_with_robustness_and_calibration(project, tiny_csvs):
    train_csv, test_csv = tiny_csvs
    project.set_params({**tiny.local_source(train_csv, test_csv), **TINY})
    project.commit("tiny params")
    dvc_yaml = (project.root / "dvc.yaml").read_text()
    result = project.dvc("repro", "summary")  # the baselines and compare are not needed
    assert "Running stage 'corrupt'" in result.stdout and "Running stage 'ood'" in result.stdout
    check_evaluate(project.root)
    check_robustness(project.root)
    baseline = read_json(project.root, "metrics/headline.json")
    assert list(baseline) == ["test_acc", "test_errors", "test_f1", "test_ece", "val_acc", "corrupted_acc"]
    assert (project.root / "dvc.yaml").read_text() == dvc_yaml  # dvclive declared nothing of its own
    assert not (project.root / "metrics/train/dvc.yaml").exists()
    before = read_json(project.root, "metrics/evaluate.json")
    project.commit("baseline")

    for temp, (name, (param, value)) in zip((["--temp"], []), EXPERIMENTS.items()):
        run = project.dvc("exp", "run", *temp, "summary", "-S", f"{param}={value}", "-n", name)
        assert "Running stage 'corrupt'" not in run.stdout  # a new model never regenerates the suite
    check_evaluate(project.root)  # the workspace holds the last experiment's results
    check_robustness(project.root)

    # dvc exp show: one row per experiment, its changed param and headline figures.
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

    # dvc metrics diff: the headline is the one declared file; the detail is reached by --targets.
    assert list(json.loads(project.dvc("metrics", "diff", "main", "--json").stdout)) == ["metrics/headline.json"]
    diff = json.loads(project.dvc(
        "metrics", "diff", "main", "--json", "--targets", "metrics/evaluate.json", "metrics/robustness.json",
    ).stdout)
    evaluated = diff["metrics/evaluate.json"]
    assert {"log_loss", "accuracy", "calibration.ece", "calibration.temperature"} <= set(evaluated)
    assert evaluated["accuracy"]["old"] == before["accuracy"]
    assert evaluated["accuracy"]["new"] > evaluated["accuracy"]["old"]  # three more epochs at a high rate learn more
    assert evaluated["accuracy"]["new"] == read_json(project.root, "metrics/evaluate.json")["accuracy"]
    assert "mean_corrupted_accuracy" in diff["metrics/robustness.json"]
    assert "per_digit" not in project.dvc("metrics", "diff", "main", "higher-rate").stdout
    detail = project.dvc("metrics", "diff", "main", "higher-rate", "--targets", "metrics/evaluate.json").stdout
    header, *rows = table_rows(detail)
    assert header == ["Path", "Metric", "main", "higher-rate", "Change"]
    per_digit = [row for row in rows if row[0] == "metrics/evaluate.json" and row[1].startswith("per_digit.")]
    assert any(old != new for _, _, old, new, _ in per_digit), detail

    # make report runs dvc plots diff (HTML page) and writes the Markdown; -o: the venv is already set up
    result = project.run("make", "-o", ".venv/.installed", "report", "BASE=main")
    assert "report: report.md; plots page: dvc_plots/index.html" in result.stdout
    page = (project.root / "dvc_plots/index.html").read_text()
    assert "ROC one-vs-rest per digit, test set" in page and "main" in page
    # the set-up made the offline template (tests/test_plots_browser.py renders such a page)
    assert "window.vegaEmbed=" in page and "cdn.jsdelivr.net" not in page
    report = (project.root / "report.md").read_text()
    assert re.search(r"\| params\.yaml +\| train\.epochs +\| 1 +\| 4 +\|", report)
    old, new = evaluated["accuracy"]["old"], evaluated["accuracy"]["new"]
    assert f"| test accuracy (`test_acc`) | {old:.4f} | {new:.4f} | {new - old:+.4f} | better |" in report
    assert "| metrics/evaluate.json | log_loss |" in report
    assert "| metrics/headline.json | test_acc |" in report and "| metrics/train/metrics.json | train.loss |" in report

    check_report_leads_with_a_robustness_drop(project)


def check_report_leads_with_a_robustness_drop(project) -> None:
    """A change that only lowers one corruption's accuracy: the report opens by naming the mean corrupted
    accuracy as worse, its first table marks that figure alone, and the per-corruption table starts
    with that corruption."""
    project.commit("more epochs")  # the base: the last experiment's results
    path = project.root / "metrics/robustness.json"
    robustness = json.loads(path.read_text())
    accuracy = robustness["accuracy"]
    corruption = max(accuracy, key=accuracy.get)
    old_accuracy, old_mean = accuracy[corruption], robustness["mean_corrupted_accuracy"]
    assert old_accuracy > 0.01, robustness  # its drop to 0 moves the mean by more than the tolerance
    accuracy[corruption] = 0.0
    robustness["mean_corrupted_accuracy"] = new_mean = round(float(np.mean(list(accuracy.values()))), 6)
    path.write_text(json.dumps(robustness, indent=2, sort_keys=True) + "\n")
    project.dvc("repro", "--single-item", "summary")  # the headline follows the robustness figures
    assert read_json(project.root, "metrics/headline.json")["corrupted_acc"] == new_mean

    project.run("make", "-o", ".venv/.installed", "report", "BASE=HEAD")
    title, heading, lead, table, detail_heading, detail = (project.root / "report.md").read_text().split("\n\n")[:6]
    assert heading == "## Headline figures (`metrics/headline.json`)"
    assert lead == f"**Worse than `HEAD` beyond tolerance: test mean corrupted accuracy ({new_mean - old_mean:+.4f}).**"
    rows = table.splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == [
        "| test accuracy (`test_acc`)", "| test errors (`test_errors`)", "| test macro F1 (`test_f1`)",
        "| test expected calibration error (`test_ece`)", "| validation accuracy (`val_acc`)",
        "| test mean corrupted accuracy (`corrupted_acc`)",
    ]
    assert rows[-1] == (f"| test mean corrupted accuracy (`corrupted_acc`) | {old_mean:.4f} | {new_mean:.4f} "
                        f"| {new_mean - old_mean:+.4f} | **worse** (tolerance 0.001) |")
    assert all(row.endswith("|  |") for row in rows[:-1]), table  # nothing else changed: no verdict
    assert detail_heading == "## Accuracy per corruption, test set (`metrics/robustness.json`)"
    assert detail.splitlines()[2].startswith(f"| {corruption} | {old_accuracy:g} → 0 (-")
