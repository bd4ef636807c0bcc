"""End to end: results move through a DVC remote without re-running; queued experiments run in
parallel; an identical re-run of the whole pipeline leaves git clean, its timings in run logs.

The tests share one reproduced pipeline on tiny data (module scope: a `dvc repro` of every stage
costs several TensorFlow start-ups). Each leaves it usable for the others: the remote test adds a
commit, the queue test adds experiment refs only, the re-run rewrites every output with the same bytes,
the deps test puts back the file it edits.
"""
from __future__ import annotations

import contextlib
import json
import pathlib
import re
import shutil
import time

import pytest
import yaml

import stage_deps
import tiny
import tiny_onnx
from conftest import ROOT, Project, project_files
from synthetic import make_digits

# One worker runs this module's tests (make test: --dist loadgroup), so its pipeline fixture is built once.
pytestmark = pytest.mark.xdist_group("scale")

STAGES = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
TINY = {**tiny.TINY, "baselines": {"enabled": ["sgd"], "n_jobs": 1, "cv": {"folds": 2, "max_samples": 100}}}


def needs(*stages: str) -> None:
    missing = sorted(set(stages) - STAGES)
    if missing:
        pytest.skip(f"needs the stages {', '.join(missing)} in dvc.yaml")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Project:
    """A temporary git + DVC copy of this checkout, the whole pipeline reproduced on tiny CSVs and committed."""
    needs("fetch", "preprocess", "train")
    from mnistflow.core import mnist_csv

    base = tmp_path_factory.mktemp("scale")
    mnist_csv.write_csv(base / "csv" / "train.csv", *make_digits(30, seed=1))
    mnist_csv.write_csv(base / "csv" / "test.csv", *make_digits(10, seed=2))
    root = base / "project"
    for name in project_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    repo = Project(root)
    repo.env["OPENBLAS_NUM_THREADS"] = "1"  # tiny arrays: BLAS threads only spin on a busy machine
    repo.run("git", "init", "-q", "-b", "main")
    # Absolute CSV paths: a clone of this repository on the same machine reads the same files.
    local = {"train": str(base / "csv" / "train.csv"), "test": str(base / "csv" / "test.csv")}
    repo.set_params({"fetch": {"source": "local", "local": local}, **TINY})
    repo.commit("project files, tiny params")
    repo.dvc("repro")
    repo.commit("reproduced")
    return repo


def cached_outputs(root: pathlib.Path) -> dict[str, bytes]:
    """The cached (not in git) stage outputs named in dvc.lock that are files: path -> bytes."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    uncached = {
        next(iter(out)) for stage in stages.values() for out in stage.get("outs", []) + stage.get("metrics", [])
        if isinstance(out, dict) and next(iter(out.values())).get("cache") is False
    }
    paths = {out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])} - uncached
    return {path: (root / path).read_bytes() for path in sorted(paths) if (root / path).is_file()}


@pytest.mark.e2e
def test_outputs_pushed_to_a_local_remote_are_pulled_into_a_fresh_clone_with_nothing_to_rerun(pipeline, tmp_path):
    remote = tmp_path / "remote"
    pipeline.dvc("remote", "add", "-d", "store", str(remote))
    pipeline.commit("a shared remote")
    pipeline.dvc("push")
    originals = cached_outputs(pipeline.root)
    assert "data/prepared/train.npz" in originals and "models/model.keras" in originals

    clone = Project(tmp_path / "clone")
    pipeline.run("git", "clone", "-q", str(pipeline.root), str(clone.root))
    assert not (clone.root / "models/model.keras").exists()  # data and models are not in git
    clone.dvc("pull")

    assert cached_outputs(clone.root) == originals
    assert "Data and pipelines are up to date." in clone.dvc("status").stdout
    repro = clone.dvc("repro")
    assert "Running stage" not in repro.stdout, repro.stdout
    assert "Data and pipelines are up to date." in repro.stdout


@pytest.mark.e2e
def test_evaluate_and_robustness_score_the_exported_onnx_file_not_the_keras_model(pipeline):
    needs("export", "evaluate", "robustness")
    before = json.loads((pipeline.root / "metrics/evaluate.json").read_text())
    assert before["accuracy"] > 0.1
    # An ONNX copy whose every answer is 3 (a tenth of the tiny test set), beside an unchanged Keras model.
    tiny_onnx.shift_final_bias(pipeline.root / "models/model.onnx", digit=3, shift=1000.0)
    try:
        pipeline.dvc("repro", "--single-item", "evaluate")
        pipeline.dvc("repro", "--single-item", "robustness")
        evaluated = json.loads((pipeline.root / "metrics/evaluate.json").read_text())
        assert (evaluated["accuracy"], evaluated["per_digit"]["3"]["recall"]) == (0.1, 1.0)
        robust = json.loads((pipeline.root / "metrics/robustness.json").read_text())
        assert robust["clean_accuracy"] == 0.1 and set(robust["accuracy"].values()) == {0.1}
    finally:  # the pipeline as committed, for the other tests
        pipeline.run("git", "checkout", "--", ".")
        pipeline.dvc("checkout", "--force")
    assert pipeline.run("git", "status", "--porcelain").stdout == ""
    assert "Data and pipelines are up to date." in pipeline.dvc("status").stdout


def run_queue(project: Project, jobs: int, deadline_s: float = 420, restarts: int = 2) -> str:
    """`dvc queue start -j JOBS`, then `dvc queue status` every few seconds until nothing is queued or
    running; returns the last status. A queue left with experiments queued and no worker alive (DVC's
    known stall, treeverse/dvc#10398) gets the remedy docs/scaling.md gives, `dvc queue start` again,
    at most `restarts` times.
    Past the deadline: fails with the status and the workers' logs. (`dvc exp run --run-all` waits
    forever on such a stall, which is why this does not call it.)"""
    project.dvc("queue", "start", "-j", str(jobs))
    deadline, stalled = time.monotonic() + deadline_s, 0
    while time.monotonic() < deadline:
        time.sleep(3)
        status = project.dvc("queue", "status", check=False)  # its worker query can race a worker's reply
        if status.returncode != 0:
            continue
        tasks = [line.split()[-1] for line in status.stdout.splitlines()[1:] if line.strip() and not line.startswith("Worker")]
        if tasks and not {"Queued", "Running"} & set(tasks):
            return status.stdout
        no_worker = "Worker status: 0 active, 0 idle" in status.stdout
        stalled = stalled + 1 if no_worker and "Queued" in tasks and "Running" not in tasks else 0
        if stalled >= 2 and restarts > 0:  # two polls in a row: not a worker between two tasks
            project.dvc("queue", "start", "-j", str(jobs))
            restarts, stalled = restarts - 1, 0
    logs = sorted((project.root / ".dvc/tmp/exps/celery").glob("*.out"))
    tails = "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]) for log in logs)
    pytest.fail(f"the queue did not finish in {deadline_s:.0f} s\n{status.stdout}{status.stderr}\n{tails}")


@pytest.mark.e2e
def test_two_queued_experiments_run_by_a_two_worker_queue_each_with_its_own_metrics(pipeline):
    for epochs in (2, 3):
        pipeline.dvc("exp", "run", "--queue", "-S", f"train.epochs={epochs}", "-n", f"epochs-{epochs}")
    queued = pipeline.dvc("queue", "status").stdout
    assert queued.count("Queued") == 2, queued
    try:
        status = run_queue(pipeline, jobs=2)
    finally:
        pipeline.dvc("queue", "stop", check=False)  # idle workers would outlive the test by ~10 s
    assert status.count("Success") == 2, status

    shown = json.loads(pipeline.dvc("exp", "show", "--json").stdout)
    experiments = {exp["name"]: exp["revs"][0] for rev in shown for exp in rev.get("experiments") or []}
    assert set(experiments) == {"epochs-2", "epochs-3"}
    for epochs in (2, 3):
        data = experiments[f"epochs-{epochs}"]["data"]
        assert data["params"]["params.yaml"]["data"]["train"]["epochs"] == epochs
        # Training's summary is detail (committed, not declared); the headline is the declared metrics.
        committed = pipeline.run("git", "show", f"{experiments[f'epochs-{epochs}']['rev']}:metrics/train/metrics.json").stdout
        assert json.loads(committed)["epochs_run"] == epochs
    if "evaluate" in STAGES:
        # Each worker evaluated its own model: three test losses, the workspace's (1 epoch) and one per
        # experiment, all different (a continuous figure; accuracy on 100 images could tie by chance).
        def evaluated(epochs: int) -> dict:
            rev = experiments[f"epochs-{epochs}"]["rev"]
            return json.loads(pipeline.run("git", "show", f"{rev}:metrics/evaluate.json").stdout)

        workspace = json.loads((pipeline.root / "metrics/evaluate.json").read_text())
        losses = [workspace["log_loss"]] + [evaluated(epochs)["log_loss"] for epochs in (2, 3)]
        assert len(set(losses)) == 3, losses
        if "summary" in STAGES:
            for epochs in (2, 3):
                headline = experiments[f"epochs-{epochs}"]["data"]["metrics"]["metrics/headline.json"]["data"]
                assert headline["test_acc"] == evaluated(epochs)["accuracy"]
    # The workspace is untouched: experiments live in git refs until `dvc exp apply`.
    assert pipeline.params()["train"]["epochs"] == 1


@contextlib.contextmanager
def stage_default_logging(project: Project):
    """TF_CPP_MIN_LOG_LEVEL unset while inside: the stages' own default, as a user gets it."""
    saved = project.env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    try:
        yield
    finally:
        if saved is not None:
            project.env["TF_CPP_MIN_LOG_LEVEL"] = saved


@pytest.mark.e2e
def test_dvc_repro_force_changes_no_tracked_file_and_prints_no_tensorflow_chatter(pipeline):
    with stage_default_logging(pipeline):
        again = pipeline.dvc("repro", "-f")
    output = (again.stdout + again.stderr).splitlines()
    assert "Running stage 'export':" in output and "Running stage 'baseline@sgd':" in output
    assert not [line for line in output if line.startswith(("E0000", "I0000", "W0000")) or "cuInit" in line]
    assert sum(" epoch 1/1: loss " in line for line in output) == 1  # one line per epoch stays

    changed = pipeline.run("git", "status", "--porcelain").stdout.splitlines()
    assert changed == [], changed  # dvc.lock too: every output, the SavedModel and the ONNX file included, has the same bytes

    # The timings are in the git-ignored run logs instead, one per timed stage.
    for stage, keys in (("train", {"train_seconds", "epoch_seconds"}), ("baseline@sgd", {"fit_seconds", "cv_seconds"})):
        log = json.loads((pipeline.root / "logs" / f"{stage}.json").read_text())
        assert log["stage"] == stage and keys <= set(log)
    tracked = pipeline.run("git", "ls-files", "metrics", "plots").stdout.split()
    assert not [path for path in tracked if "seconds" in (pipeline.root / path).read_text(errors="replace")]


@pytest.mark.e2e
def test_a_docstring_edit_in_core_figures_leaves_train_up_to_date_and_changes_only_the_stages_importing_it(pipeline):
    figures = pipeline.root / "src/mnistflow/core/figures.py"
    original = figures.read_text()
    assert original.startswith('"""PNG figures')
    figures.write_text(original.replace('"""PNG figures', '"""The PNG figures', 1))
    try:
        changed = json.loads(pipeline.dvc("status", "--json").stdout)
    finally:
        figures.write_text(original)  # the other tests share this pipeline
    scripts = stage_deps.stage_scripts((pipeline.root / "dvc.yaml").read_text())
    importers = {name for name, script in scripts.items() if "src/mnistflow/core/figures.py" in stage_deps.code_deps(pipeline.root / script, pipeline.root)}
    assert "train" not in changed and "preprocess" in importers
    assert {name.split("@")[0] for name in changed} == importers
    assert "Data and pipelines are up to date." in pipeline.dvc("status").stdout


def test_collected_field_digits_change_the_field_figure_and_rerun_only_the_stages_that_read_them(pipeline):
    needs("field", "field_eval", "summary")
    from mnistflow.core import field_record

    # A fresh clone has no field data: the figures say so instead of a made-up zero.
    empty = json.loads((pipeline.root / "metrics/field.json").read_text())
    assert (empty["count"], empty["accuracy"], empty["unsure_share"]) == (0, None, None)
    assert "field_acc" not in json.loads((pipeline.root / "metrics/headline.json").read_text())

    images, labels = make_digits(2, seed=9)  # what `serve --collect data/field` writes: one record per digit
    for image, label in zip(images, labels):
        record = field_record.dumps(image, label=int(label), answer={}, model_md5=None, raw=None)
        (pipeline.root / "data/field" / field_record.file_name(image)).write_text(record)
    assert "data/field" in pipeline.dvc("status", "field").stdout

    repro = pipeline.dvc("repro")
    ran = set(re.findall(r"Running stage '([^']+)'", repro.stdout))
    assert ran == {"field", "oversample", "field_eval", "summary"}, repro.stdout  # train: its input did not change
    collected = json.loads((pipeline.root / "metrics/field.json").read_text())
    assert 0 < collected["count"] < 20 and 0.0 <= collected["accuracy"] <= 1.0

    diff = json.loads(pipeline.dvc("metrics", "diff", "--json").stdout)
    assert diff["metrics/headline.json"]["field_acc"] == {"old": None, "new": collected["accuracy"]}
    data_diff = json.loads(pipeline.dvc("diff", "--json").stdout)
    assert len([entry for entry in data_diff["added"] if entry["path"].startswith("data/field/")]) == 20
    pipeline.commit("collected twenty field digits")
