"""The layout's rules hold: an area of the package imports only itself and the shared core
(each stage's deps are held to its imports by tests/test_stage_deps.py)."""
from __future__ import annotations

import pathlib

import pytest

from stage_deps import SRC, imported_modules

PACKAGE = SRC / "mnistflow"


def areas() -> list[pathlib.Path]:
    return sorted(path for path in PACKAGE.iterdir() if (path / "__init__.py").is_file() and path.name != "core")


@pytest.mark.parametrize("area", areas(), ids=lambda path: path.name)
def test_an_area_imports_only_itself_and_the_core(area: pathlib.Path) -> None:
    allowed = {PACKAGE / "__init__.py", PACKAGE / "core", area}
    strays = set()
    for module in area.rglob("*.py"):
        for file in imported_modules(module, (SRC,)):
            if not any(file == path or path in file.parents for path in allowed):
                strays.add(f"{module.relative_to(SRC)} imports {file.relative_to(SRC)}")
    assert not strays, "; ".join(sorted(strays))


def test_the_core_imports_no_area() -> None:
    strays = {
        f"{module.relative_to(SRC)} imports {file.relative_to(SRC)}"
        for module in (PACKAGE / "core").rglob("*.py")
        for file in imported_modules(module, (SRC,))
        if not (file == PACKAGE / "__init__.py" or PACKAGE / "core" in file.parents)
    }
    assert not strays, "; ".join(sorted(strays))
