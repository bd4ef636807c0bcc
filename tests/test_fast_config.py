"""The fast configuration is defined once (bench/fast.yaml); the command docs/params.md shows is derived from it."""
from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

from mnistflow.core import params
from mnistflow.data import oversample
from mnistflow.training import config as training

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture
def bench_train(monkeypatch):
    """bench/train.py as a module (it imports bench/timing.py from its own folder)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "bench" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_params_shows_the_command_derived_from_bench_fast_yaml(bench_train, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench/train.py", "--fast-command"])
    bench_train.main()
    command = capsys.readouterr().out.strip()

    assert command == bench_train.fast_command(bench_train.load_fast())
    assert command.startswith("dvc exp run -n fast -S '") and command.count(" -S ") == len(bench_train.load_fast())
    assert command in (ROOT / "docs" / "params.md").read_text().splitlines(), (
        "docs/params.md must show `python bench/train.py --fast-command`'s output as one line"
    )
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:  # any other page's copy too
        copies = [line for line in page.read_text().splitlines() if line.startswith("dvc exp run -n fast ")]
        assert all(line == command for line in copies), f"{page.name}: its fast command is not --fast-command's"


def test_fast_configuration_names_only_known_params_with_valid_values(bench_train):
    fast = bench_train.load_fast()
    overridden = bench_train.set_dotted(params.load_params(ROOT / "params.yaml"), fast)

    assert {key.split(".")[0] for key in fast} <= {"oversample", "train"}  # what bench/train.py applies
    # parse rejects a misspelt key (set_dotted would have added it) and any bad value, naming it
    params.parse(training.TrainParams, overridden["train"], key="train")
    params.parse(oversample.OversampleParams, overridden["oversample"], key="oversample")
