"""What the server says about the model it serves (`GET /v1/models/mnist`), gathered once at start.

    info = model_info.describe("models/model.onnx")

- `md5`: the file's MD5, computed here; `dvc_lock_md5`: the hash `dvc.lock` records for that path
  (DVC 3 hashes a file's bytes with MD5, so the two agree unless the file changed since
  `dvc repro` / `dvc pull`), or None when no `dvc.lock` lists it;
- `git_revision`: `git rev-parse HEAD` of the project, or None outside a git checkout;
- `metrics`: the project's `metrics/evaluate.json` (test metrics from the evaluate stage), or None.

The project is the nearest directory above the model file holding `dvc.yaml`; with none, there is
no lock, revision or metrics to report. Nothing here reads a path from a request.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import subprocess
from typing import Any

import yaml

logger = logging.getLogger(__name__)

METRICS = pathlib.Path("metrics/evaluate.json")


def describe(model_path: str | os.PathLike[str]) -> dict[str, Any]:
    path = pathlib.Path(model_path).resolve()
    root = project_root(path)
    relative = path.relative_to(root).as_posix() if root else None
    return {
        "file": path.name,
        "path": relative or str(path),
        "md5": file_md5(path),
        "dvc_lock_md5": dvc_lock_md5(root, relative) if root and relative else None,
        "git_revision": git_revision(root) if root else None,
        "metrics": read_metrics(root / METRICS) if root else None,
    }


def project_root(path: pathlib.Path) -> pathlib.Path | None:
    return next((parent for parent in path.parents if (parent / "dvc.yaml").is_file()), None)


def file_md5(path: pathlib.Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_lock_md5(root: pathlib.Path, relative: str) -> str | None:
    """The md5 of `relative` among the outputs dvc.lock records, or None."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return None
    try:
        stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    except (yaml.YAMLError, AttributeError) as error:
        logger.warning("%s: unreadable (%s); reporting no dvc.lock hash", lock, error)
        return None
    for stage in stages.values():
        for out in stage.get("outs", []) if isinstance(stage, dict) else []:
            if isinstance(out, dict) and out.get("path") == relative and isinstance(out.get("md5"), str):
                return out["md5"]
    return None


def git_revision(root: pathlib.Path) -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def read_metrics(path: pathlib.Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        logger.warning("%s: not JSON (%s); reporting no metrics", path, error)
        return None
    return metrics if isinstance(metrics, dict) else None
