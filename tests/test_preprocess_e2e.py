"""End-to-end: `dvc repro preprocess` in a temporary copy of the project, fed by the `local` fetch source."""
import json

import pytest

from mnistflow.core import arrays


@pytest.mark.e2e
def test_preprocess_repro_is_a_no_op_when_nothing_changed_and_val_fraction_reruns_only_preprocess(project, tiny_csvs):
    train, test = tiny_csvs  # 30 and 10 images per digit
    project.set_params({"fetch": {"source": "local", "local": {"train": str(train), "test": str(test)}}})
    project.commit("fetch from local tiny CSVs")
    prepared = project.root / "data" / "prepared"

    first = project.dvc("repro", "preprocess").stdout
    assert "Running stage 'fetch'" in first and "Running stage 'preprocess'" in first
    assert arrays.class_counts(arrays.load_split(prepared / "val.npz")[1]).tolist() == [3] * 10
    assert arrays.class_counts(arrays.load_split(prepared / "train.npz")[1]).tolist() == [27] * 10
    assert arrays.class_counts(arrays.load_split(prepared / "test.npz")[1]).tolist() == [10] * 10
    assert (project.root / "plots/preprocess/class_counts/val.csv").read_text().splitlines()[1] == "0,3"
    assert (project.root / "plots/preprocess/samples.png").is_file()
    shown = json.loads(project.dvc("plots", "show", "--json", "preprocess class counts").stdout)
    assert "errors" not in shown
    chart = shown["data"]["preprocess class counts"][0]["content"]  # our template, filled in by DVC
    assert chart["resolve"] == {"scale": {"x": "independent"}} and len(chart["data"]["values"]) == 30

    again = project.dvc("repro", "preprocess").stdout
    assert "Running stage" not in again
    # status of preprocess and what it depends on (the stages after it have not run in this project)
    assert "Data and pipelines are up to date." in project.dvc("status", "preprocess").stdout

    project.set_params({"preprocess": {"val_fraction": 0.2}})
    status = project.dvc("status", "preprocess").stdout
    assert "preprocess:" in status and "fetch:" not in status
    third = project.dvc("repro", "preprocess").stdout
    assert "Running stage 'preprocess'" in third and "Running stage 'fetch'" not in third
    assert arrays.class_counts(arrays.load_split(prepared / "val.npz")[1]).tolist() == [6] * 10
