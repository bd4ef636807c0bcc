"""train.distribution: TF_CONFIG checks, and real mirrored / multi-worker training against one device.

The distributed runs happen in subprocesses: TensorFlow's device and cluster set-up can be made
once per process only. `multi_worker` runs the train stage itself (stages/train.py) as two
workers; `mirrored` needs the one CPU split into two logical devices first, which
tests/distributed_run.py does before calling the same trainer. Both are compared with a
single-device run of the same trainer, params, seed and global batch size, made here.
"""
from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
import yaml

from mnistflow.core import arrays
from mnistflow.training import distribute
from stage_scripts import load_stage  # tests/stage_scripts.py
from synthetic import make_digits

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = 3
TINY_TRAIN = {
    "epochs": 4,
    "batch_size": 32,  # the global batch: 7 steps per epoch on 200 images, however many replicas
    "optimizer": "adam",
    "learning_rate": 0.01,
    "schedule": "none",
    "label_smoothing": 0.0,
    "mixed_precision": False,
    "model": {"blocks": [{"filters": 8, "pool": True}], "dense_units": 0, "dropout": 0.0},  # no randomness per replica
    "augment": {"rotation": 0, "zoom": 0, "translation": 0, "noise": 0, "blur": 0},  # nor per image
}
TIMEOUT = 240  # seconds; a worker whose peer died would wait for it forever
ACCURACY_TOLERANCE = 0.03  # the weights agree to ~1e-5: only float summation order differs


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Tiny splits and params on disk, the test split, and the single-device model's test accuracy."""
    import keras

    from mnistflow.core import params
    from mnistflow.training import train as training
    from mnistflow.training.config import TrainParams

    directory = tmp_path_factory.mktemp("digits")
    arrays.save_split(directory / "train.npz", *make_digits(20, seed=1))
    arrays.save_split(directory / "val.npz", *make_digits(5, seed=2))
    test = make_digits(10, seed=3)
    for kind in distribute.KINDS:
        (directory / f"params-{kind}.yaml").write_text(
            yaml.safe_dump({"seed": SEED, "train": {**TINY_TRAIN, "distribution": kind}})
        )
    config = params.load_section(directory / "params-none.yaml", "train", TrainParams)
    keras.utils.set_random_seed(SEED)
    model, _ = training.train_model(
        arrays.load_split(directory / "train.npz"), arrays.load_split(directory / "val.npz"), config=config,
        seed=SEED, live_dir=None, checkpoint_path=str(directory / "reference.npz"), fingerprint={"run": "reference"},
    )
    reference = accuracy(model, *test)
    keras.backend.clear_session()
    assert reference > 0.2  # it learned something (chance is 0.1), so comparing with it means something
    return directory, test, reference


def accuracy(model, images, labels) -> float:
    predictions = model.predict(arrays.to_model_input(images), verbose=0).argmax(axis=1)
    return float(np.mean(predictions == labels))


def run_env(**extra: str) -> dict[str, str]:
    """This environment without any TF_CONFIG of the caller's, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if name != "TF_CONFIG"}
    return {**env, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for one in sockets:
            one.bind(("127.0.0.1", 0))
        return [one.getsockname()[1] for one in sockets]
    finally:
        for one in sockets:
            one.close()


def test_parse_tf_config_reads_the_cluster_and_this_task():
    cluster = distribute.parse_tf_config(
        '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    )
    assert cluster == distribute.Cluster(tasks={"worker": ("a:1", "b:2")}, task_type="worker", task_index=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"train.distribution is 'multi_worker' but TF_CONFIG is not set"),
        ("{cluster", r"TF_CONFIG is not valid JSON"),
        ('{"task": {}}', r'TF_CONFIG must be a JSON object with a "cluster" mapping'),
        ('{"cluster": {"ps": ["a:1"]}}', r"TF_CONFIG cluster has task type 'ps'; expected only chief, worker"),
        ('{"cluster": {"worker": []}}', r'TF_CONFIG cluster.worker must be a non-empty list of "host:port"; got \[\]'),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
         r"TF_CONFIG task.type must name one of the cluster's task types \(worker\)"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
         r"TF_CONFIG task.index must be an integer in \[0, 1\]; got 2"),
    ],
)
def test_parse_tf_config_rejects_a_bad_cluster_naming_what_to_fix(text, message):
    with pytest.raises(ValueError, match=message):
        distribute.parse_tf_config(text)


def test_make_strategy_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match=r"train.distribution must be one of 'none', 'mirrored', 'multi_worker'; got 'tpu'"):
        distribute.make_strategy("tpu")


def test_make_strategy_none_is_one_replica_that_writes_outputs():
    strategy = distribute.make_strategy("none")
    assert (distribute.replicas(strategy), distribute.writes_outputs(strategy)) == (1, True)


def test_mirrored_on_two_cpu_devices_saves_a_model_as_accurate_as_one_device(digits, tmp_path):
    import keras

    directory, test, reference = digits
    command = [
        sys.executable, str(ROOT / "tests" / "distributed_run.py"), "--kind", "mirrored", "--logical-cpus", "2",
        "--params", str(directory / "params-mirrored.yaml"), "--train", str(directory / "train.npz"),
        "--val", str(directory / "val.npz"), "--model", str(tmp_path / "model.keras"),
        "--checkpoint", str(tmp_path / "ckpt.npz"),
    ]
    result = subprocess.run(command, env=run_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"replicas": 2, "writes_outputs": True, "own_file": "ckpt.npz"}
    mirrored = accuracy(keras.models.load_model(tmp_path / "model.keras"), *test)
    assert abs(mirrored - reference) <= ACCURACY_TOLERANCE, (mirrored, reference)


def test_train_stage_as_two_workers_only_the_chief_writes_a_model_as_accurate_as_one_device(digits, tmp_path):
    import keras

    directory, test, reference = digits
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
        command = [
            sys.executable, str(ROOT / "stages" / "train.py"), "--params", str(directory / "params-multi_worker.yaml"),
            "--train", str(directory / "train.npz"), "--val", str(directory / "val.npz"),
            "--model", str(tmp_path / "out" / "model.keras"), "--card", str(tmp_path / "out" / "model.json"),
            "--live", str(tmp_path / "out" / "live"),
            "--checkpoint", str(tmp_path / "out" / "checkpoint.npz"), "--run-log", str(tmp_path / "logs" / "train.json"),
        ]
        workers.append(subprocess.Popen(command, env=run_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=TIMEOUT))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
    assert "distribution multi_worker: 2 replica(s) in sync, writes outputs: True" in outputs[0][1]
    assert "distribution multi_worker: 2 replica(s) in sync, writes outputs: False" in outputs[1][1]
    # The chief's model, its card and dvclive metrics; no checkpoint left by either worker.
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["live", "model.json", "model.keras"]
    assert [path.name for path in (tmp_path / "logs").iterdir()] == ["train.json"]
    chief = accuracy(keras.models.load_model(tmp_path / "out" / "model.keras"), *test)
    assert abs(chief - reference) <= ACCURACY_TOLERANCE, (chief, reference)


def test_train_stage_multi_worker_without_tf_config_fails_in_one_line_before_importing_tensorflow(
    digits, tmp_path, capsys, monkeypatch
):

    from mnistflow.core import cli

    directory, _, _ = digits
    monkeypatch.delenv("TF_CONFIG", raising=False)
    stage = load_stage("train")
    argv = [
        "--params", str(directory / "params-multi_worker.yaml"), "--train", str(directory / "train.npz"),
        "--val", str(directory / "val.npz"), "--model", str(tmp_path / "model.keras"), "--card", str(tmp_path / "model.json"),
        "--live", str(tmp_path / "live"), "--checkpoint", str(tmp_path / "checkpoint.npz"),
    ]
    assert cli.run(stage.main, argv) == 1
    assert capsys.readouterr().err == (
        "error: train.distribution is 'multi_worker' but TF_CONFIG is not set; "
        "set the TF_CONFIG environment variable (docs/scaling.md)\n"
    )
    assert not any(tmp_path.iterdir())
