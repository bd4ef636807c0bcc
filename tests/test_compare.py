from __future__ import annotations

import json
import pathlib

import pytest

from mnistflow.classical import compare
from mnistflow.core import cli
from stage_scripts import load_stage  # tests/stage_scripts.py

ROOT = pathlib.Path(__file__).resolve().parent.parent

SGD = {"accuracy": 0.9123, "f1_macro": 0.91, "cv_accuracy_mean": 0.90456, "cv_accuracy_std": 0.0031, "cv_folds": 3}
KNN = {"accuracy": 0.975, "f1_macro": 0.97449, "cv_accuracy_mean": 0.96, "cv_accuracy_std": 0.002}
EVALUATE = {"accuracy": 0.9921, "f1_macro": 0.99207, "loss": 0.03}

TABLE_WITH_CNN = """\
| model | CV accuracy (mean ± std) | test accuracy | macro F1 |
| --- | ---: | ---: | ---: |
| cnn | — | 0.9921 | 0.9921 |
| sgd | 0.9046 ± 0.0031 | 0.9123 | 0.9100 |
| knn | 0.9600 ± 0.0020 | 0.9750 | 0.9745 |
"""


def rows(with_cnn: bool = True) -> list[compare.Row]:
    baseline_rows = [compare.baseline_row("sgd", SGD), compare.baseline_row("knn", KNN)]
    return ([compare.cnn_row(EVALUATE)] if with_cnn else []) + baseline_rows


def test_markdown_table_lists_the_cnn_then_each_baseline_with_dashes_for_missing_figures():
    assert compare.markdown_table(rows()) == TABLE_WITH_CNN


def test_markdown_table_without_the_cnn_has_only_baseline_rows():
    assert compare.markdown_table(rows(with_cnn=False)) == "".join(TABLE_WITH_CNN.splitlines(keepends=True)[:2] + TABLE_WITH_CNN.splitlines(keepends=True)[3:])


def test_cnn_row_reads_only_the_test_metrics_and_ignores_any_timing():
    row = compare.cnn_row({**EVALUATE, "predict_seconds": 1.5})
    assert row == compare.Row(model="cnn", accuracy=0.9921, f1_macro=0.99207)


def test_plot_data_csv_has_one_line_per_model_and_no_timing_column():
    assert compare.plot_data_csv(rows()) == "model,test_accuracy\ncnn,0.9921\nsgd,0.9123\nknn,0.9750\n"


def test_chart_draws_one_accuracy_bar_per_model_and_no_time_axis():
    figure = compare.chart(rows())
    [axes] = figure.axes
    assert [patch.get_width() for patch in axes.patches] == [0.9921, 0.9123, 0.975]
    assert [label.get_text() for label in axes.get_yticklabels()] == ["cnn", "sgd", "knn"]


def test_chart_refuses_an_empty_comparison():
    with pytest.raises(ValueError, match=r"^nothing to compare: no CNN metrics and no baseline enabled"):
        compare.chart([])


def test_baseline_row_names_the_file_and_key_of_a_missing_figure():
    with pytest.raises(ValueError, match=r"^metrics/baselines/sgd\.json: expected a number under 'cv_accuracy_std'; got None"):
        compare.baseline_row("sgd", {k: v for k, v in SGD.items() if k != "cv_accuracy_std"}, source="metrics/baselines/sgd.json")


def _write_inputs(root: pathlib.Path, enabled: str) -> list[str]:
    (root / "params.yaml").write_text(f"seed: 1\nbaselines:\n  enabled: {enabled}\n")
    (root / "baselines").mkdir()
    (root / "baselines" / "sgd.json").write_text(json.dumps(SGD))
    (root / "baselines" / "knn.json").write_text(json.dumps(KNN))
    (root / "evaluate.json").write_text(json.dumps(EVALUATE))
    return ["--params", str(root / "params.yaml"), "--baselines", str(root / "baselines"),
            "--table", str(root / "out" / "comparison.md"),
            "--plot-data", str(root / "out" / "models.csv"), "--chart", str(root / "out" / "models.png")]


@pytest.mark.parametrize("with_cnn", [True, False])
def test_compare_stage_writes_table_csv_and_png_with_or_without_the_cnn_metrics(tmp_path, with_cnn):
    argv = _write_inputs(tmp_path, "[sgd, knn]")
    if with_cnn:
        argv += ["--cnn-evaluate", str(tmp_path / "evaluate.json")]
    assert cli.run(load_stage("compare").main, argv) == 0
    assert (tmp_path / "out" / "comparison.md").read_text() == compare.markdown_table(rows(with_cnn))
    assert (tmp_path / "out" / "models.csv").read_text() == compare.plot_data_csv(rows(with_cnn))
    assert (tmp_path / "out" / "models.png").read_bytes().startswith(b"\x89PNG")


def test_compare_stage_reads_only_the_enabled_baselines(tmp_path):
    argv = _write_inputs(tmp_path, "[knn]")
    assert cli.run(load_stage("compare").main, argv) == 0
    assert [line.split(" | ")[0] for line in (tmp_path / "out" / "comparison.md").read_text().splitlines()[2:]] == ["| knn"]


def test_compare_stage_names_the_stage_to_run_for_a_missing_baseline_file(tmp_path, capsys):
    argv = _write_inputs(tmp_path, "[sgd, svc_ovr]")
    assert cli.run(load_stage("compare").main, argv) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'baselines' / 'svc_ovr.json'}: no such file; run `dvc repro baseline@svc_ovr` first\n"
    )
    assert not (tmp_path / "out").exists()
