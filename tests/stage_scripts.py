"""Load a stage script (`stages/<name>.py`) as a module, so a test can call its `main` in-process."""
from __future__ import annotations

import importlib.util
import pathlib
from types import ModuleType

STAGES = pathlib.Path(__file__).resolve().parent.parent / "stages"


def load_stage(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"stage_{name}", STAGES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
