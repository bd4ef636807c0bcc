"""`make setup`: .venv is made with uv from requirements.lock, and a wheel whose sha256 is not the
lock's stops the set-up with one line. Runs the project's own Makefile on a one-package lock and a
wheel made here, offline (UV_OFFLINE, UV_NO_INDEX, UV_FIND_LINKS: uv's own settings)."""
from __future__ import annotations

import base64
import hashlib
import os
import pathlib
import shutil
import subprocess
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def uv_binary() -> str:
    """The uv `make setup` used: the one on PATH, else the Makefile's tool environment."""
    found = shutil.which("uv") or str(ROOT / ".uv" / "bin" / "uv")
    assert pathlib.Path(found).is_file(), "no uv: run `make setup` first"
    return found


def make_wheel(folder: pathlib.Path) -> pathlib.Path:
    """A minimal pure-Python wheel, tinypkg 1.0, with a valid RECORD."""
    files = {
        "tinypkg/__init__.py": b"VALUE = 42\n",
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    files["tinypkg-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def run_setup(project: pathlib.Path, wheels: pathlib.Path, lock_hash: str) -> subprocess.CompletedProcess[str]:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    (project / "requirements.lock").write_text(f"tinypkg==1.0 \\\n    --hash=sha256:{lock_hash}\n")
    env = {**os.environ, "UV_OFFLINE": "1", "UV_NO_INDEX": "1", "UV_FIND_LINKS": str(wheels),
           "UV_CACHE_DIR": str(project / "uv-cache")}
    return subprocess.run(["make", "--no-print-directory", "setup", f"UV={uv_binary()}"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture()
def wheel(tmp_path: pathlib.Path) -> pathlib.Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    return make_wheel(folder)


def test_setup_refuses_a_wheel_whose_sha256_is_not_the_locks(tmp_path: pathlib.Path, wheel: pathlib.Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    result = run_setup(project, wheel.parent, lock_hash="0" * 64)
    assert result.returncode != 0
    assert (
        "error: set-up failed: .venv could not be made exactly requirements.lock "
        "(uv says why above; a hash mismatch means a wheel is not the one locked)"
    ) in result.stderr.splitlines()
    assert "hash" in result.stderr.lower()
    assert not (project / ".venv" / ".installed").exists()


def test_setup_installs_the_wheel_whose_sha256_is_the_locks(tmp_path: pathlib.Path, wheel: pathlib.Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    result = run_setup(project, wheel.parent, lock_hash=hashlib.sha256(wheel.read_bytes()).hexdigest())
    # The lock was synced; the step after it (the project's editable install) needs a real checkout.
    assert "set-up failed" not in result.stderr
    installed = subprocess.run([str(project / ".venv" / "bin" / "python"), "-c", "import tinypkg; print(tinypkg.VALUE)"],
                               capture_output=True, text=True)
    assert installed.stdout == "42\n"


def test_setup_has_nothing_to_do_when_the_lock_has_not_changed() -> None:
    # `make -q` runs nothing and exits 0 only when the target is up to date.
    question = subprocess.run(["make", "-q", "setup"], cwd=ROOT, capture_output=True, text=True)
    assert question.returncode == 0, question.stdout + question.stderr
