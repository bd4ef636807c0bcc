"""Each stage's code deps in dvc.yaml are exactly its script's import closure (tests/stage_deps.py):
no imported module missing, no .py file the stage never imports, and the list `make deps` writes."""
from __future__ import annotations

import pathlib
import re

import pytest

import stage_deps

DVC_YAML = (stage_deps.ROOT / "dvc.yaml").read_text()
STAGES = [(name, script, stage_deps.declared_deps(DVC_YAML)[name]) for name, script in stage_deps.stage_scripts(DVC_YAML).items()]


@pytest.mark.parametrize(("stage", "script", "deps"), STAGES, ids=[stage for stage, _, _ in STAGES])
def test_stage_deps_are_exactly_the_files_its_script_imports(stage: str, script: str, deps: list[str]) -> None:
    problems = stage_deps.check(stage, script, deps)
    assert not problems, "\n".join(problems) + "\n(run `make deps`)"


def test_dvc_yaml_code_deps_are_what_make_deps_writes() -> None:
    assert stage_deps.rewrite(DVC_YAML) == DVC_YAML, "dvc.yaml's code deps are out of date or out of order: run `make deps`"


def test_every_module_that_reads_package_data_declares_it() -> None:
    readers = {
        str(path.relative_to(stage_deps.ROOT)) for path in stage_deps.SRC.rglob("*.py")
        if re.search(r"importlib\.resources|pkgutil\.get_data|__file__", path.read_text())
    }
    assert readers == set(stage_deps.PACKAGE_DATA), "list each module that reads files of its package in stage_deps.PACKAGE_DATA"


def tiny_project(root: pathlib.Path) -> None:
    """pkg/area/step.py imports pkg.core.shared inside a function and pkg.core.types only for type checking;
    the stage script imports it and its neighbour stages/common.py; pkg/core/page.py reads pkg/core/static."""
    files = {
        "src/pkg/__init__.py": "", "src/pkg/core/__init__.py": "", "src/pkg/area/__init__.py": "",
        "src/pkg/core/shared.py": "x = 1\n", "src/pkg/core/types.py": "", "src/pkg/core/unused.py": "",
        "src/pkg/core/page.py": "import importlib.resources\n", "src/pkg/core/static/page.html": "<p>\n",
        "src/pkg/area/step.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.core import types\n"
            "def f():\n    from pkg.core import shared\n"
        ),
        "stages/step.py": "import common\nfrom pkg.area import step\n",
        "stages/common.py": "import json\n",
        "stages/page.py": "from pkg.core import page\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


TINY_DVC_YAML = """\
# The pipeline: step: an example.
stages:
  # before the stage
  step:
    cmd: python stages/step.py --in data/in.csv
    deps:
      - data/in.csv  # the input
      - stages/step.py
      - src/pkg
      # a comment inside
      - data/more.csv

    outs:
      - out.txt
  page:
    cmd: >-
      python stages/page.py
    deps:
      - data/in.csv
    outs:
      - page.txt
"""


def test_stage_deps_check_names_the_stage_and_each_missing_and_extra_file(tmp_path: pathlib.Path) -> None:
    tiny_project(tmp_path)
    assert stage_deps.check("step", "stages/step.py", ["stages/step.py", "src/pkg/core", "src/pkg/__init__.py", "data/${x}.csv"], tmp_path) == [
        "stage step: deps miss src/pkg/area/__init__.py, which stages/step.py imports",
        "stage step: deps miss src/pkg/area/step.py, which stages/step.py imports",
        "stage step: deps miss stages/common.py, which stages/step.py imports",
        "stage step: deps cover src/pkg/core/page.py, which stages/step.py never imports",
        "stage step: deps cover src/pkg/core/types.py, which stages/step.py never imports",
        "stage step: deps cover src/pkg/core/unused.py, which stages/step.py never imports",
    ]


def test_stage_deps_rewrite_replaces_only_code_entries_keeping_data_comments_and_order(tmp_path: pathlib.Path) -> None:
    tiny_project(tmp_path)
    rewritten = stage_deps.rewrite(TINY_DVC_YAML, tmp_path, {"src/pkg/core/page.py": ("src/pkg/core/static",)})
    assert rewritten == TINY_DVC_YAML.replace(
        "      - stages/step.py\n      - src/pkg\n",
        "      - stages/step.py\n      - src/pkg/__init__.py\n      - src/pkg/area/__init__.py\n      - src/pkg/area/step.py\n"
        "      - src/pkg/core/__init__.py\n      - src/pkg/core/shared.py\n      - stages/common.py\n",
    ).replace(
        "    deps:\n      - data/in.csv\n    outs:\n      - page.txt\n",
        "    deps:\n      - stages/page.py\n      - src/pkg/__init__.py\n      - src/pkg/core/__init__.py\n      - src/pkg/core/page.py\n"
        "      - src/pkg/core/static/page.html\n      - data/in.csv\n    outs:\n      - page.txt\n",
    )
    for name, script in stage_deps.stage_scripts(rewritten).items():
        assert stage_deps.check(name, script, stage_deps.declared_deps(rewritten)[name], tmp_path) == []
    assert stage_deps.rewrite(rewritten, tmp_path, {"src/pkg/core/page.py": ("src/pkg/core/static",)}) == rewritten


def test_stage_deps_command_names_the_stage_then_write_fixes_it(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny_project(tmp_path)
    (tmp_path / "dvc.yaml").write_text(TINY_DVC_YAML)
    assert stage_deps.main(["--dvc-yaml", str(tmp_path / "dvc.yaml")]) == 1
    out, err = capsys.readouterr()
    assert "stage step: deps cover src/pkg/core/unused.py, which stages/step.py never imports" in out
    assert "stage page: deps miss its script" in out and "stage page: deps miss src/pkg/core/page.py, which stages/page.py imports" in out
    assert "2 stage(s) to fix: run `make deps`" in err

    assert stage_deps.main(["--dvc-yaml", str(tmp_path / "dvc.yaml"), "--write"]) == 0
    assert capsys.readouterr().out == "dvc.yaml: code deps rewritten for step, page\n"
    assert stage_deps.main(["--dvc-yaml", str(tmp_path / "dvc.yaml")]) == 0


def test_stage_deps_command_rejects_a_stage_that_runs_no_script(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo hi\n")
    assert stage_deps.main(["--dvc-yaml", str(tmp_path / "dvc.yaml")]) == 1
    assert capsys.readouterr().err == "error: dvc.yaml: stage s: its cmd runs no stages/*.py script (expected `python stages/<name>.py ...`)\n"
