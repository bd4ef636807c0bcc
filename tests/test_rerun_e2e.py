"""End to end: an identical re-run of the whole pipeline leaves git clean; timings go to run logs."""
from __future__ import annotations

import json

import pytest
import tiny

pytestmark = pytest.mark.e2e

TINY = {**tiny.TINY, "baselines": {"enabled": ["sgd"], "n_jobs": 1, "cv": {"folds": 2, "max_samples": 100}}}


def test_dvc_repro_force_after_a_commit_changes_no_tracked_file_and_prints_no_tensorflow_chatter(project, tiny_csvs):
    train_csv, test_csv = tiny_csvs
    project.env.pop("TF_CPP_MIN_LOG_LEVEL")  # the stages' own default, as a user gets it
    project.env["OPENBLAS_NUM_THREADS"] = "1"  # tiny arrays: BLAS threads only spin on a busy machine
    project.set_params({**tiny.local_source(train_csv, test_csv), **TINY})
    project.commit("tiny params")
    first = project.dvc("repro")
    project.commit("reproduced")

    again = project.dvc("repro", "-f")
    output = (first.stdout + first.stderr + again.stdout + again.stderr).splitlines()
    assert "Running stage 'export':" in output and "Running stage 'baseline@sgd':" in output
    assert not [line for line in output if line.startswith(("E0000", "I0000", "W0000")) or "cuInit" in line]
    assert sum(" epoch 1/1: loss " in line for line in output) == 2  # one line per epoch stays

    changed = project.run("git", "status", "--porcelain").stdout.splitlines()
    assert changed == [], changed  # dvc.lock too: every output, the SavedModel and the ONNX file included, has the same bytes

    # The timings are in the git-ignored run logs instead, one per timed stage.
    for stage, keys in (("train", {"train_seconds", "epoch_seconds"}), ("baseline@sgd", {"fit_seconds", "cv_seconds"})):
        log = json.loads((project.root / "logs" / f"{stage}.json").read_text())
        assert log["stage"] == stage and keys <= set(log)
    tracked = project.run("git", "ls-files", "metrics", "plots").stdout.split()
    assert not [path for path in tracked if "seconds" in (project.root / path).read_text(errors="replace")]
