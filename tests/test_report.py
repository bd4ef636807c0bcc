import pytest

from mnistflow.evaluation import report

METRICS_DIFF = {
    "metrics/evaluate.json": {
        "accuracy": {"old": 0.95, "new": 0.9625, "diff": 0.0125},
        "errors": {"old": 50, "new": 40, "diff": -10},
        "f1_macro": {"old": 0.9, "new": 0.9, "diff": 0.0},
        "per_digit.3.roc_auc": {"old": 0.99, "new": None},
    },
    "metrics/evaluate_val.json": {"accuracy": {"old": 0.9, "new": 0.9, "diff": 0.0}},
}
SOURCES = [("test", "metrics/evaluate.json"), ("validation", "metrics/evaluate_val.json")]


def test_headline_table_shows_base_new_and_signed_change_per_figure():
    table = report.headline_table(METRICS_DIFF, base="main", sources=SOURCES).splitlines()
    assert table[0] == "| figure | main | this change | change |"
    assert "| test accuracy | 0.9500 | 0.9625 | +0.0125 |" in table
    assert "| test errors | 50 | 40 | -10 |" in table
    assert "| test macro F1 | 0.9000 | 0.9000 | 0.0000 |" in table
    assert "| validation errors | - | - | - |" in table  # not in the diff: shown as unknown, not zero


def test_changed_table_lists_only_metrics_that_differ_including_one_that_became_null():
    table = report.changed_table(METRICS_DIFF, base="main").splitlines()
    assert table[2:] == [
        "| metrics/evaluate.json | accuracy | 0.95 | 0.9625 | +0.0125 |",
        "| metrics/evaluate.json | errors | 50 | 40 | -10 |",
        "| metrics/evaluate.json | per_digit.3.roc_auc | 0.99 | - | - |",
    ]


def test_changed_table_puts_the_given_files_first_and_sorts_metrics_by_name():
    diff = {
        "metrics/train/metrics.json": {"loss": {"old": 2.0, "new": 1.5, "diff": -0.5}},
        "metrics/evaluate_val.json": {"errors": {"old": 5, "new": 4, "diff": -1}},
        "metrics/evaluate.json": {"log_loss": {"old": 1.0, "new": 0.5, "diff": -0.5}, "errors": {"old": 9, "new": 8, "diff": -1}},
    }
    table = report.changed_table(diff, base="main", first=["metrics/evaluate.json", "metrics/evaluate_val.json"])
    assert [line.split(" | ")[:2] for line in table.splitlines()[2:]] == [
        ["| metrics/evaluate.json", "errors"], ["| metrics/evaluate.json", "log_loss"],
        ["| metrics/evaluate_val.json", "errors"], ["| metrics/train/metrics.json", "loss"],
    ]


def test_changed_table_says_so_when_nothing_changed():
    assert report.changed_table({"m.json": {"a": {"old": 1, "new": 1, "diff": 0}}}, base="HEAD") == "No metric differs from `HEAD`."


def test_render_puts_params_metrics_plots_page_images_and_comparison_in_order():
    text = report.render(
        base="main", params_md="| params.yaml | train.epochs | 3 | 5 |", metrics_md="| all |",
        metrics_diff=METRICS_DIFF, sources=SOURCES, plots_page="dvc_plots/index.html",
        images=["plots/evaluate/mistakes.png"], comparison_md="| model | accuracy |\n",
    )
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["# Pipeline report: workspace vs `main`", "## Headline figures", "## Params changed",
                        "## Metrics that changed", "## Plots", "## Baselines comparison"]
    assert "| params.yaml | train.epochs | 3 | 5 |" in text and "| all |" in text
    assert "`dvc plots diff main` wrote every plot, old and new side by side, to `dvc_plots/index.html`" in text
    assert "![mistakes](plots/evaluate/mistakes.png)" in text
    assert text.endswith("## Baselines comparison\n\n| model | accuracy |\n")


def test_render_says_when_no_param_changed_and_leaves_out_a_missing_comparison():
    text = report.render(base="HEAD", params_md="", metrics_md="", metrics_diff={}, sources=SOURCES, plots_page="p/index.html")
    assert "No param differs from `HEAD`." in text and "Baselines comparison" not in text


def test_report_fails_in_one_line_for_an_unknown_base_revision(tmp_path, monkeypatch, capsys):
    from mnistflow.core import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "fake-bin").mkdir()
    fake_dvc = tmp_path / "fake-bin" / "dvc"
    fake_dvc.write_text("#!/bin/sh\necho \"ERROR: unknown Git revision 'no-such-rev'\" >&2\nexit 255\n")
    fake_dvc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'fake-bin'}")
    status = cli.run(report.main, ["--base", "no-such-rev", "--out", "r.md", "--plots-dir", "p",
                                   "--metrics", "m.json", "--val-metrics", "v.json"])
    assert status == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: dvc params diff no-such-rev --md failed: ERROR: unknown Git revision 'no-such-rev'"
    )
    assert not (tmp_path / "r.md").exists()


def test_report_compares_the_targets_given_beside_the_declared_metrics(tmp_path, monkeypatch):
    from mnistflow.core import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "fake-bin").mkdir()
    fake_dvc = tmp_path / "fake-bin" / "dvc"  # logs its arguments; prints {} for --json
    fake_dvc.write_text('#!/bin/sh\necho "$*" >> dvc.log\ncase "$*" in *--json*) echo "{}";; esac\n')
    fake_dvc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'fake-bin'}")
    status = cli.run(report.main, ["--base", "main", "--out", "r.md", "--plots-dir", "p", "--metrics", "m.json",
                                   "--val-metrics", "v.json", "--targets", "metrics/a.json", "metrics/b.json"])
    assert status == 0
    calls = (tmp_path / "dvc.log").read_text().splitlines()
    assert [call for call in calls if call.startswith("metrics diff")] == [
        "metrics diff main --all --md --targets metrics/a.json metrics/b.json",
        "metrics diff main --all --json --targets metrics/a.json metrics/b.json",
    ]
    assert (tmp_path / "r.md").is_file()


def test_make_report_compares_every_json_file_under_metrics_declared_or_not():
    import pathlib
    import subprocess

    root = pathlib.Path(__file__).resolve().parent.parent
    report_target = (root / "Makefile").read_text().split("\nreport:")[1].split("\n\n")[0]
    assert "--targets $(METRICS_FILES)" in report_target
    # -n: print the command only; -o: never consider the venv stale
    command = subprocess.run(["make", "-n", "-o", ".venv/.installed", "report"], cwd=root, check=True,
                             capture_output=True, text=True).stdout
    words = [word for word in command.split() if word != "\\"]
    after = words[words.index("--targets") + 1:]
    targets = after[:next(index for index, word in enumerate(after) if word.startswith("--"))]
    found = {str(path.relative_to(root)) for pattern in ("metrics/*.json", "metrics/*/*.json") for path in root.glob(pattern)}
    assert set(targets) == found and "metrics/evaluate.json" in found  # JSON only: never the folder, nor its .txt/.md


@pytest.mark.parametrize("value, expected", [(None, "-"), (0.1234567, "0.123457"), (3, "3")])
def test_plain_formats_missing_float_and_integer_values(value, expected):
    assert report._plain(value) == expected


def test_pr_report_workflow_template_stays_a_thin_wrapper_around_make_report():
    import pathlib

    import yaml

    root = pathlib.Path(__file__).resolve().parent.parent
    workflow = yaml.safe_load((root / ".github/workflows/pr-report.yml").read_text())
    steps = workflow["jobs"]["report"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    python = next(step["with"]["python-version"] for step in steps if step.get("uses", "").startswith("actions/setup-python"))
    assert python == "3.11"
    assert "make report BASE=origin/${{ github.base_ref }}" in commands
    assert "cml comment create report.md" in commands
    assert "dvc exp run $SMALL_PARAMS" in commands
    report_target = (root / "Makefile").read_text().split("\nreport:")[1].split("\n\n")[0]
    assert "python -m mnistflow.evaluation.report --base $(BASE) --out $(REPORT) --plots-dir $(PLOTS_DIR)" in report_target
