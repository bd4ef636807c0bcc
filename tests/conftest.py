"""Shared fixtures: a temporary copy of this project as a git + DVC repository, and tiny data."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import make_digits  # noqa: E402  (tests/ is not a package)


def project_files() -> list[str]:
    """The checkout's files as git sees them (tracked, plus untracked ones it does not ignore), less
    the results of a pipeline run committed beside them (dvc.lock, metrics/, plots/), so every test
    project starts as a fresh clone that has never run."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file() and not _run_result(name)]


def _run_result(name: str) -> bool:
    path = pathlib.PurePosixPath(name)
    if name == "dvc.lock":
        return True
    return path.parts[0] in ("metrics", "plots") and path.name != ".gitkeep"


class Project:
    """A copy of the project in a temporary git repository, with commands run inside it."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        bin_dir = str(pathlib.Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": str(root / "src"),  # the copy's own code, not an installed one
            "DVC_NO_ANALYTICS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
        }

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("dvc", *args, check=check)

    def params(self) -> dict[str, Any]:
        return yaml.safe_load((self.root / "params.yaml").read_text())

    def set_params(self, updates: dict[str, Any]) -> None:
        """Deep-merge `updates` into params.yaml (a value of None removes nothing: it is written)."""
        params = self.params()
        _merge(params, updates)
        (self.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)


def _merge(target: dict[str, Any], updates: dict[str, Any]) -> None:
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


@pytest.fixture
def project(tmp_path: pathlib.Path) -> Project:
    """A fresh copy of this checkout in a temporary git repository with DVC initialised."""
    root = tmp_path / "project"
    for name in project_files():
        destination = root / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)
    repo = Project(root)
    repo.run("git", "init", "-q", "-b", "main")
    repo.commit("project files")
    return repo


@pytest.fixture
def tiny_csvs(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Canonical-format train (30 per digit) and test (10 per digit) CSVs of synthetic digits."""
    from mnistflow.core import mnist_csv

    directory = tmp_path / "tiny_csv"
    train = directory / "train.csv"
    test = directory / "test.csv"
    mnist_csv.write_csv(train, *make_digits(30, seed=1))
    mnist_csv.write_csv(test, *make_digits(10, seed=2))
    return train, test


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
