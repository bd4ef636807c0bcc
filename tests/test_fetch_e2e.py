"""The fetch stage under real DVC: run-cached (a repeat is a no-op, old params restore from cache) and freezable."""
from __future__ import annotations

import pytest


@pytest.mark.e2e
def test_fetch_stage_is_run_cached_and_frozen_stage_never_reruns(project, tiny_csvs):
    train, test = tiny_csvs
    project.set_params({"fetch": {"source": "local", "local": {"train": str(train), "test": str(test)}}})
    project.commit("fetch from local tiny CSVs")
    raw = project.root / "data" / "raw"

    assert "Running stage 'fetch'" in project.dvc("repro", "fetch").stdout
    assert (raw / "mnist_train.csv").read_bytes() == train.read_bytes()
    assert (raw / "mnist_test.csv").read_bytes() == test.read_bytes()

    project.set_params({"fetch": {"canonical": "skip"}})
    assert "Running stage 'fetch'" in project.dvc("repro", "fetch").stdout
    project.set_params({"fetch": {"canonical": "auto"}})
    assert "is cached - skipping run" in project.dvc("repro", "fetch").stdout

    assert "didn't change" in project.dvc("repro", "fetch").stdout

    project.dvc("freeze", "fetch")
    project.set_params({"fetch": {"local": {"train": str(train.parent / "missing.csv")}}})
    frozen = project.dvc("repro", "fetch")  # would fail (missing file) if the stage ran
    assert "Running stage 'fetch'" not in frozen.stdout
    assert (raw / "mnist_train.csv").read_bytes() == train.read_bytes()
