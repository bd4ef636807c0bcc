"""train.distribution: TF_CONFIG checks, and real mirrored / multi-worker runs against one device.

The distributed runs happen in subprocesses (tests/distributed_run.py): TensorFlow's device and
cluster set-up can be made once per process only. Both are compared with a single-device run of
the same model, seed and global batch size, made here.
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

from mnistflow import arrays, distribute
from synthetic import make_digits

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUN = ROOT / "tests" / "distributed_run.py"
EPOCHS = 4
BATCH_SIZE = 32
TIMEOUT = 180  # seconds; a worker whose peer died waits on it forever
ACCURACY_TOLERANCE = 0.03  # weights agree to ~1e-5: only float summation order differs


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Tiny train and test splits on disk, and the single-device model's test accuracy."""
    import keras

    import distributed_run

    directory = tmp_path_factory.mktemp("digits")
    arrays.save_split(directory / "train.npz", *make_digits(20, seed=1))
    test_images, test_labels = make_digits(10, seed=2)
    images, labels = arrays.load_split(directory / "train.npz")
    model = distributed_run.train(
        distribute.make_strategy("none"), images, labels, seed=0, epochs=EPOCHS, batch_size=BATCH_SIZE
    )
    keras.backend.clear_session()
    return directory / "train.npz", (test_images, test_labels), accuracy(model, test_images, test_labels)


def accuracy(model, images, labels) -> float:
    predictions = model.predict(arrays.to_model_input(images), verbose=0).argmax(axis=1)
    return float(np.mean(predictions == labels))


def run_env(**extra: str) -> dict[str, str]:
    """This environment without any TF_CONFIG of the caller's, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if name != "TF_CONFIG"}
    return {**env, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def run_args(kind: str, data: pathlib.Path, model: pathlib.Path) -> list[str]:
    return [sys.executable, str(RUN), "--kind", kind, "--data", str(data), "--model", str(model),
            "--epochs", str(EPOCHS), "--batch-size", str(BATCH_SIZE)]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for one in sockets:
            one.bind(("127.0.0.1", 0))
        return [one.getsockname()[1] for one in sockets]
    finally:
        for one in sockets:
            one.close()


def report(result: subprocess.CompletedProcess[str] | tuple[str, str]) -> dict:
    stdout = result.stdout if isinstance(result, subprocess.CompletedProcess) else result[0]
    return json.loads(stdout.strip().splitlines()[-1])


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


def test_global_batches_keeps_the_global_batch_size_and_every_example():
    batches = list(distribute.global_batches(np.arange(5.0), np.arange(5), global_batch_size=2).as_numpy_iterator())
    assert [labels.tolist() for _, labels in batches] == [[0, 1], [2, 3], [4]]


def test_mirrored_on_two_cpu_devices_saves_a_model_as_accurate_as_one_device(digits, tmp_path):
    import keras

    train, (test_images, test_labels), reference = digits
    command = run_args("mirrored", train, tmp_path / "model.keras") + ["--logical-cpus", "2"]
    result = subprocess.run(command, env=run_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert report(result) == {"replicas": 2, "writes_outputs": True, "own_file": "ckpt.npz"}
    mirrored = accuracy(keras.models.load_model(tmp_path / "model.keras"), test_images, test_labels)
    assert reference > 0.2  # learned something (chance is 0.1), so the comparison means something
    assert abs(mirrored - reference) <= ACCURACY_TOLERANCE, (mirrored, reference)


def test_multi_worker_with_two_processes_only_the_chief_saves_a_model_as_accurate_as_one_device(digits, tmp_path):
    import keras

    train, (test_images, test_labels), reference = digits
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
        workers.append(subprocess.Popen(
            run_args("multi_worker", train, tmp_path / f"model-{index}.keras"),
            env=run_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
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
    assert [report(output) for output in outputs] == [
        {"replicas": 2, "writes_outputs": True, "own_file": "ckpt.npz"},
        {"replicas": 2, "writes_outputs": False, "own_file": "ckpt.worker-1.npz"},
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model-0.keras"]
    chief = accuracy(keras.models.load_model(tmp_path / "model-0.keras"), test_images, test_labels)
    assert reference > 0.2
    assert abs(chief - reference) <= ACCURACY_TOLERANCE, (chief, reference)
