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
SOURCES = report.Sources(headline="metrics/headline.json", robustness="metrics/robustness.json",
                         per_digit="metrics/evaluate.json")
FILE_ARGS = ["--headline", "h.json", "--robustness", "r.json", "--metrics", "m.json"]
HEADLINE_KEYS = ["test_acc", "test_errors", "test_f1", "test_ece", "val_acc", "corrupted_acc"]
HEADLINE_DIFF = {
    "test_acc": {"old": 0.95, "new": 0.9625},
    "test_errors": {"old": 50, "new": 65},
    "test_f1": {"old": 0.9, "new": 0.9005},
    "test_ece": {"old": 0.01, "new": 0.012},
    "val_acc": {"old": 0.9, "new": 0.9},
    "corrupted_acc": {"old": 0.8, "new": 0.7},
}


def test_headline_table_rows_are_the_headline_keys_in_the_files_order_each_with_its_verdict():
    table = report.headline_table(HEADLINE_DIFF, base="main", keys=HEADLINE_KEYS).splitlines()
    assert table[:2] == ["| figure | main | this change | difference | verdict |", "| --- | ---: | ---: | ---: | --- |"]
    assert table[2:] == [
        "| test accuracy (`test_acc`) | 0.9500 | 0.9625 | +0.0125 | better |",
        "| test errors (`test_errors`) | 50 | 65 | +15 | **worse** (tolerance 10) |",  # lower is better
        "| test macro F1 (`test_f1`) | 0.9000 | 0.9005 | +0.0005 | within tolerance |",
        "| test expected calibration error (`test_ece`) | 0.0100 | 0.0120 | +0.0020 | **worse** (tolerance 0.001) |",
        "| validation accuracy (`val_acc`) | 0.9000 | 0.9000 | 0.0000 |  |",
        "| test mean corrupted accuracy (`corrupted_acc`) | 0.8000 | 0.7000 | -0.1000 | **worse** (tolerance 0.001) |",
    ]


@pytest.mark.parametrize(("key", "old", "new", "verdict"), [
    ("test_acc", 0.99, 0.989, "within tolerance"),  # exactly the tolerance: not beyond it
    ("test_acc", 0.99, 0.9889, "**worse** (tolerance 0.001)"),
    ("test_errors", 60, 50, "within tolerance"),
    ("test_errors", 60, 49, "better"),
    ("test_ece", 0.003, 0.0019, "better"),
    ("test_acc", None, 0.99, "not in the base"),
    ("test_acc", 0.99, None, "not in this change"),
    ("test_acc", None, None, ""),
])
def test_judge_reads_each_figure_in_its_own_direction_against_its_tolerance(key, old, new, verdict):
    assert report.judge(key, old, new) == verdict


def test_headline_table_shows_an_undeclared_figure_with_its_change_but_no_verdict():
    diff = {"test_acc": {"old": 0.9, "new": 0.9}, "ood_auroc": {"old": 0.97, "new": 0.5}, "brand_new": {"new": 3}}
    table = report.headline_table(diff, base="main", keys=["test_acc", "ood_auroc"]).splitlines()
    assert table[3:] == [
        "| `ood_auroc` | 0.97 | 0.5 | -0.47 | changed (no direction declared) |",
        "| `brand_new` | - | 3 | - | not in the base |",  # in the diff, not in the workspace's file: after its keys
    ]
    assert report.worse_figures(diff, keys=["test_acc", "ood_auroc"]) == []


def test_lead_line_names_every_figure_worse_beyond_tolerance_or_says_none_is():
    assert report.lead_line(HEADLINE_DIFF, base="main", keys=HEADLINE_KEYS) == (
        "**Worse than `main` beyond tolerance: test errors (+15), test expected calibration error (+0.0020), "
        "test mean corrupted accuracy (-0.1000).**"
    )
    assert report.lead_line({"test_acc": {"old": 0.9, "new": 0.95}}, base="HEAD", keys=["test_acc"]) == (
        "No headline figure is worse than `HEAD` beyond its tolerance."
    )


def test_every_headline_figure_the_summary_writes_has_a_declared_direction():
    from mnistflow.evaluation import summary

    assert {key for key, _, _ in summary.FIGURES} == set(report.FIGURES)


def test_detail_table_puts_changed_rows_first_the_largest_drop_first_then_the_rest_in_digit_order():
    diff = {
        **{f"per_digit.{digit}.f1": {"old": 0.9, "new": 0.9} for digit in range(11)},
        "per_digit.3.f1": {"old": 0.9, "new": 0.95},
        "per_digit.7.f1": {"old": 0.9, "new": 0.8},
        "per_digit.10.recall": {"old": 0.5, "new": 0.25},
        "per_digit.2.support": {"old": 5, "new": 6},  # not a column: ignored
        "per_digit_extra": {"old": 1, "new": 2},
    }
    table = report.detail_table(diff, base="main", prefix="per_digit", row_name="digit",
                                columns=[("f1", "F1"), ("recall", "recall")]).splitlines()
    assert table[:2] == ["| digit | F1 | recall |", "| --- | ---: | ---: |"]
    assert table[2:5] == ["| 7 | 0.9 → 0.8 (-0.1) | - |", "| 10 | 0.9 | 0.5 → 0.25 (-0.25) |", "| 3 | 0.9 → 0.95 (+0.05) | - |"]
    assert [line.split(" | ")[0] for line in table[5:]] == [f"| {digit}" for digit in (0, 1, 2, 4, 5, 6, 8, 9)]


def test_detail_table_of_single_values_and_of_a_file_without_them():
    diff = {"accuracy.fog": {"old": 0.9, "new": 0.9}, "accuracy.zigzag": {"old": 0.8, "new": 0.5},
            "mean_corrupted_accuracy": {"old": 0.85, "new": 0.7}}
    table = report.detail_table(diff, base="main", prefix="accuracy", row_name="corruption", columns=[("", "accuracy")])
    assert table.splitlines()[2:] == ["| zigzag | 0.8 → 0.5 (-0.3) |", "| fog | 0.9 |"]
    assert report.detail_table({}, base="main", prefix="accuracy", row_name="corruption",
                               columns=[("", "accuracy")]) == "No `accuracy.*` figures to compare with `main`."


def test_read_headline_keys_keeps_the_files_order_and_fails_in_one_line_on_a_broken_file(tmp_path):
    headline = tmp_path / "headline.json"
    assert report.read_headline_keys(str(headline)) == []  # not made yet: the diff's keys are shown
    headline.write_text('{"val_acc": 0.9, "test_acc": 0.8}')
    assert report.read_headline_keys(str(headline)) == ["val_acc", "test_acc"]
    headline.write_text('{"val_acc": ')
    with pytest.raises(ValueError, match=r"headline\.json: not valid JSON \(.*\); re-run the summary stage"):
        report.read_headline_keys(str(headline))
    headline.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"headline\.json: expected a JSON object of headline figures; got list"):
        report.read_headline_keys(str(headline))


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


def test_render_leads_with_the_headline_then_the_detail_params_metrics_plots_and_comparison():
    diff = {**METRICS_DIFF, "metrics/headline.json": HEADLINE_DIFF,
            "metrics/robustness.json": {"accuracy.fog": {"old": 0.9, "new": 0.8}}}
    text = report.render(
        base="main", params_md="| params.yaml | train.epochs | 3 | 5 |", metrics_md="| all |",
        metrics_diff=diff, headline_keys=HEADLINE_KEYS, sources=SOURCES, plots_page="dvc_plots/index.html",
        images=["plots/evaluate/mistakes.png"], comparison_md="| model | accuracy |\n",
    )
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["# Pipeline report: workspace vs `main`", "## Headline figures (`metrics/headline.json`)",
                        "## Accuracy per corruption, test set (`metrics/robustness.json`)",
                        "## Per digit, test set (`metrics/evaluate.json`)", "## Params changed",
                        "## Metrics that changed", "## Plots", "## Baselines comparison"]
    first_table = text.split("\n\n")[3].splitlines()
    assert [row.split(" | ")[0] for row in first_table[2:]] == [
        "| test accuracy (`test_acc`)", "| test errors (`test_errors`)", "| test macro F1 (`test_f1`)",
        "| test expected calibration error (`test_ece`)", "| validation accuracy (`val_acc`)",
        "| test mean corrupted accuracy (`corrupted_acc`)",
    ]
    assert "| fog | 0.9 → 0.8 (-0.1) |" in text and "| 3 | - | - | - | 0.99 → - |" in text
    assert "| params.yaml | train.epochs | 3 | 5 |" in text and "| all |" in text
    assert "`dvc plots diff main` wrote every plot, old and new side by side, to `dvc_plots/index.html`" in text
    assert "![mistakes](plots/evaluate/mistakes.png)" in text
    assert text.endswith("## Baselines comparison\n\n| model | accuracy |\n")


def test_render_says_when_no_param_changed_and_leaves_out_a_missing_comparison():
    text = report.render(base="HEAD", params_md="", metrics_md="", metrics_diff={}, headline_keys=[],
                         sources=SOURCES, plots_page="p/index.html")
    assert "No param differs from `HEAD`." in text and "Baselines comparison" not in text


def test_report_fails_in_one_line_for_an_unknown_base_revision(tmp_path, monkeypatch, capsys):
    from mnistflow.core import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "fake-bin").mkdir()
    fake_dvc = tmp_path / "fake-bin" / "dvc"
    fake_dvc.write_text("#!/bin/sh\necho \"ERROR: unknown Git revision 'no-such-rev'\" >&2\nexit 255\n")
    fake_dvc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'fake-bin'}")
    status = cli.run(report.main, ["--base", "no-such-rev", "--out", "r.md", "--plots-dir", "p", *FILE_ARGS])
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
    status = cli.run(report.main, ["--base", "main", "--out", "r.md", "--plots-dir", "p", *FILE_ARGS,
                                   "--targets", "metrics/a.json", "metrics/b.json"])
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


def test_plots_page_template_carries_the_bundle_and_dvc_fills_it_without_cdn_scripts():
    from dvc_render.html import HTML

    from mnistflow.evaluation import plots_page

    template = plots_page.page_template("window.vegaEmbed = () => {};")
    assert "(function () {\nwindow.vegaEmbed = () => {};\n})();" in template  # its names stay local
    page = HTML(template).with_scripts('<script src="https://cdn.example/vega"></script>').with_element("<div id='p'></div>").embed()
    assert "<div id='p'></div>" in page and "cdn.example" not in page and "{plot_divs}" not in page


@pytest.mark.parametrize(("bundle", "message"), [
    ("let s = '</SCRIPT>';", r"the Vega bundle contains '</script', which would end its <script> element early"),
    ("let s = '{plot_divs}';", r"the Vega bundle contains '\{plot_divs\}', which DVC would replace inside it"),
])
def test_plots_page_template_refuses_a_bundle_that_would_break_the_page(bundle, message):
    from mnistflow.evaluation import plots_page

    with pytest.raises(ValueError, match=message):
        plots_page.page_template(bundle)


def test_the_tolerance_table_in_docs_evaluation_md_is_report_figures():
    import pathlib

    docs = (pathlib.Path(__file__).resolve().parent.parent / "docs/evaluation.md").read_text()
    table = docs.split("| figure | better | tolerance |\n| --- | --- | --- |\n")[1].split("\n\n")[0]
    documented = {}
    for row in table.splitlines():
        keys, better, tolerance = (cell.strip() for cell in row.strip("|").split("|"))
        for key in keys.split(", "):
            documented[key.strip("`")] = (better, float(tolerance))
    assert documented == {
        key: ("higher" if figure.higher_is_better else "lower", figure.tolerance) for key, figure in report.FIGURES.items()
    }
