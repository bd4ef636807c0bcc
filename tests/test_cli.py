"""The stage edge: TensorFlow's C++ start-up lines stay off stderr; everything else gets through; JSON read with a hint."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from mnistflow.core import arrays, cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
ABSL_LINES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796114865.853274   15355 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\n"
    "W0000 00:00:1796114865.962224   15355 cpu_feature_guard.cc:227] a warning\n"
    "E0000 00:00:1796114871.557333   15355 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
)


def test_stderr_without_chatter_drops_absl_lines_and_passes_on_the_rest_in_order(capfd):
    with cli.stderr_without_chatter():
        os.write(2, b"first line\n" + ABSL_LINES.encode() + b"Traceback: a real problem\n")
    assert capfd.readouterr().err == "first line\nTraceback: a real problem\n"


def test_chatter_pattern_keeps_fatal_lines_and_lines_that_only_mention_a_level():
    assert all(cli.CHATTER.match(line) for line in ABSL_LINES.splitlines())
    kept = ["F0000 00:00:1796114871.557333   15355 x.cc:1] fatal", "I0000 is not a log line", "epoch 1/2: loss 0.5"]
    assert not any(cli.CHATTER.match(line) for line in kept)


@pytest.mark.slow
def test_a_stage_that_imports_tensorflow_writes_no_cpp_start_up_lines_to_stderr(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "model.keras")
    (tmp_path / "model.json").write_text('{"temperature": 1.0, "unsure_threshold": 0.5}')
    arrays.save_split(tmp_path / "test.npz", np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8))
    environment = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "export.py"), "--model", str(tmp_path / "model.keras"),
         "--card", str(tmp_path / "model.json"), "--test", str(tmp_path / "test.npz"),
         "--onnx", str(tmp_path / "model.onnx"), "--out", str(tmp_path / "export")],
        capture_output=True, text=True, env={**environment, "PYTHONPATH": str(ROOT / "src")}, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith(("E0000", "I0000", "W0000")) or "cuInit" in line or "absl" in line]
    assert any("wrote SavedModel" in line for line in lines)  # the stage's own log still gets through


def test_read_json_names_the_stage_to_run_for_a_missing_or_broken_file(tmp_path):
    (tmp_path / "good.json").write_text('{"accuracy": 0.99}')
    assert cli.read_json(tmp_path / "good.json", stage="evaluate") == {"accuracy": 0.99}
    with pytest.raises(FileNotFoundError, match=r"missing\.json: no such file; run `dvc repro evaluate` first$"):
        cli.read_json(tmp_path / "missing.json", stage="evaluate")
    (tmp_path / "broken.json").write_text('{"accuracy": ')
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON \(Expecting value: .*\); run `dvc repro baseline@sgd` again$"):
        cli.read_json(tmp_path / "broken.json", stage="baseline@sgd")
