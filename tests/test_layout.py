"""The layout's rules hold: every module a stage runs is covered by that stage's deps in dvc.yaml,
and an area of the package imports only itself and the shared core."""
from __future__ import annotations

import ast
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "mnistflow"


def module_file(name: str, src: pathlib.Path) -> pathlib.Path | None:
    """The file of dotted module `name` under `src`, or None when it is not there (a name in a module)."""
    path = src.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def imported_modules(path: pathlib.Path, src: pathlib.Path, package: str) -> set[pathlib.Path]:
    """The files of `package` that `path` imports directly (module level or inside functions)."""
    found: set[pathlib.Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name != package and not name.startswith(package + "."):
                continue
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # a package's __init__ runs on import too
                file = module_file(".".join(parts[:depth]), src)
                if file is not None:
                    found.add(file)
    return found


def import_closure(script: pathlib.Path, src: pathlib.Path, package: str = "mnistflow") -> set[pathlib.Path]:
    """Every file of `package` that running `script` can import, transitively."""
    seen: set[pathlib.Path] = set()
    todo = [script]
    while todo:
        for file in imported_modules(todo.pop(), src, package):
            if file not in seen:
                seen.add(file)
                todo.append(file)
    return seen


def uncovered(files: set[pathlib.Path], deps: list[str], root: pathlib.Path) -> list[str]:
    """The files (relative to root) under no path in deps."""
    dep_paths = [root / dep for dep in deps]
    return sorted(
        str(file.relative_to(root)) for file in files
        if not any(file == dep or dep in file.parents for dep in dep_paths)
    )


def stage_scripts() -> list[tuple[str, pathlib.Path, list[str]]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    result = []
    for name, stage in stages.items():
        stage = stage.get("do", stage)
        script = re.search(r"python (stages/\S+\.py)", stage["cmd"])
        assert script, f"stage {name}: cmd runs no stages/*.py script"
        result.append((name, ROOT / script.group(1), [dep for dep in stage["deps"] if "${" not in dep]))
    return result


@pytest.mark.parametrize(("stage", "script", "deps"), stage_scripts(), ids=[s[0] for s in stage_scripts()])
def test_every_module_a_stage_imports_is_covered_by_its_deps(stage: str, script: pathlib.Path, deps: list[str]) -> None:
    assert str(script.relative_to(ROOT)) in deps, f"stage {stage}: deps must list its script {script.name}"
    missing = uncovered(import_closure(script, SRC), deps, ROOT)
    assert not missing, f"stage {stage}: dvc.yaml deps do not cover {', '.join(missing)}"


def test_layout_check_names_a_module_left_out_of_deps(tmp_path: pathlib.Path) -> None:
    (tmp_path / "src/pkg/core").mkdir(parents=True)
    (tmp_path / "src/pkg/area").mkdir(parents=True)
    for init in ("src/pkg/__init__.py", "src/pkg/core/__init__.py", "src/pkg/area/__init__.py"):
        (tmp_path / init).write_text("")
    (tmp_path / "src/pkg/core/shared.py").write_text("x = 1\n")
    (tmp_path / "src/pkg/area/step.py").write_text("def f():\n    from pkg.core import shared\n")
    script = tmp_path / "stage.py"
    script.write_text("from pkg.area import step\n")
    closure = import_closure(script, tmp_path / "src", package="pkg")
    assert uncovered(closure, ["stage.py", "src/pkg/area", "src/pkg/__init__.py"], tmp_path) == [
        "src/pkg/core/__init__.py", "src/pkg/core/shared.py",
    ]
    assert uncovered(closure, ["src/pkg"], tmp_path) == []


def areas() -> list[pathlib.Path]:
    return sorted(path for path in PACKAGE.iterdir() if (path / "__init__.py").is_file() and path.name != "core")


@pytest.mark.parametrize("area", areas(), ids=lambda path: path.name)
def test_an_area_imports_only_itself_and_the_core(area: pathlib.Path) -> None:
    allowed = {PACKAGE / "__init__.py", PACKAGE / "core", area}
    strays = set()
    for module in area.rglob("*.py"):
        for file in imported_modules(module, SRC, "mnistflow"):
            if not any(file == path or path in file.parents for path in allowed):
                strays.add(f"{module.relative_to(SRC)} imports {file.relative_to(SRC)}")
    assert not strays, "; ".join(sorted(strays))


def test_the_core_imports_no_area() -> None:
    strays = {
        f"{module.relative_to(SRC)} imports {file.relative_to(SRC)}"
        for module in (PACKAGE / "core").rglob("*.py")
        for file in imported_modules(module, SRC, "mnistflow")
        if not (file == PACKAGE / "__init__.py" or PACKAGE / "core" in file.parents)
    }
    assert not strays, "; ".join(sorted(strays))
