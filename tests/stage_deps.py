"""Each stage's code deps in dvc.yaml: exactly the files its script imports (its import closure).

    python tests/stage_deps.py           # name the stages whose deps differ; exit 1 if any
    python tests/stage_deps.py --write   # rewrite them in dvc.yaml (`make deps`)

A stage's code deps are its script, every file of `src/mnistflow/` (or beside the script, in
`stages/`) that running the script can import, at module level or inside a function, a package's
`__init__.py` included (importing a submodule runs it), and the package data those modules read
(`PACKAGE_DATA`). A missing file would let `dvc status` call stale results up to date; an extra one
re-runs the stage on an unrelated edit. The rewrite replaces only the code entries (paths under
`stages/` or `src/`) of each `deps:` list, in place of the first one; data deps, comments and the
order of everything else stay. tests/test_stage_deps.py holds dvc.yaml to it.
"""
from __future__ import annotations

import argparse
import ast
import pathlib
import re
import sys
from collections.abc import Sequence

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
# Files a module reads from its own package (importlib.resources), by module: they are deps of any
# stage that imports it. tests/test_stage_deps.py fails when a module reads package data unlisted here.
PACKAGE_DATA = {"src/mnistflow/serving/server.py": ("src/mnistflow/serving/static",)}
CODE_PREFIXES = ("stages/", "src/")


def module_file(name: str, roots: Sequence[pathlib.Path]) -> pathlib.Path | None:
    """The file of dotted module `name` under the first root that has it, or None (not ours, or a name in a module)."""
    for root in roots:
        path = root.joinpath(*name.split("."))
        if (path / "__init__.py").is_file():
            return path / "__init__.py"
        if path.with_suffix(".py").is_file():
            return path.with_suffix(".py")
    return None


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, less those under `if TYPE_CHECKING:` (they never run)."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def imported_modules(path: pathlib.Path, roots: Sequence[pathlib.Path]) -> set[pathlib.Path]:
    """The files under `roots` (import roots, searched in order as on sys.path) that `path` imports directly."""
    found: set[pathlib.Path] = set()
    for node in _import_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # a package's __init__ runs on import too
                file = module_file(".".join(parts[:depth]), roots)
                if file is not None:
                    found.add(file)
    return found


def import_closure(script: pathlib.Path, src: pathlib.Path = SRC) -> set[pathlib.Path]:
    """Every file that running `script` can import, transitively: from its own folder (a script's
    sys.path[0]) and from `src`."""
    roots = (script.parent, src)
    seen: set[pathlib.Path] = set()
    todo = [script]
    while todo:
        for file in imported_modules(todo.pop(), roots):
            if file not in seen:
                seen.add(file)
                todo.append(file)
    return seen


def code_deps(script: pathlib.Path, root: pathlib.Path = ROOT, package_data: dict[str, Sequence[str]] = PACKAGE_DATA) -> list[str]:
    """The script, the sorted files of its import closure, then the package data they read: paths relative to root."""
    closure = sorted(str(file.relative_to(root)) for file in import_closure(script, root / "src"))
    data = []
    for module in closure:
        for entry in package_data.get(module, ()):
            path = root / entry
            data += sorted(str(file.relative_to(root)) for file in path.rglob("*") if file.is_file()) if path.is_dir() else [entry]
    return [str(script.relative_to(root))] + [file for file in closure if file != str(script.relative_to(root))] + data


def stage_scripts(dvc_yaml: str) -> dict[str, str]:
    """Stage name -> the stages/*.py script its cmd runs (a foreach stage's `do:` included)."""
    scripts = {}
    for name, stage in yaml.safe_load(dvc_yaml)["stages"].items():
        stage = stage.get("do", stage)
        match = re.search(r"python (stages/\S+\.py)", stage["cmd"])
        if match is None:
            raise ValueError(f"dvc.yaml: stage {name}: its cmd runs no stages/*.py script (expected `python stages/<name>.py ...`)")
        scripts[name] = match.group(1)
    return scripts


def declared_deps(dvc_yaml: str) -> dict[str, list[str]]:
    """Stage name -> its deps as written (templated entries such as data/${...} included)."""
    return {name: list(stage.get("do", stage).get("deps") or []) for name, stage in yaml.safe_load(dvc_yaml)["stages"].items()}


def check(stage: str, script: str, deps: Sequence[str], root: pathlib.Path = ROOT) -> list[str]:
    """What is wrong with one stage's deps, a line per file: an imported module they miss, or a .py
    file they cover that the script never imports (templated entries, data/${...}, are skipped)."""
    closure = import_closure(root / script, root / "src") | {root / script}
    paths = [root / dep for dep in deps if "${" not in dep]
    problems = [
        f"stage {stage}: deps miss " + ("its script" if file == root / script else f"{file.relative_to(root)}, which {script} imports")
        for file in sorted(closure) if not any(file == path or path in file.parents for path in paths)
    ]
    covered = {file for path in paths for file in ([path] if path.suffix == ".py" else path.rglob("*.py"))}
    problems += [
        f"stage {stage}: deps cover {file.relative_to(root)}, which {script} never imports"
        for file in sorted(covered - closure)
    ]
    return problems


def rewrite(dvc_yaml: str, root: pathlib.Path = ROOT, package_data: dict[str, Sequence[str]] = PACKAGE_DATA) -> str:
    """`dvc_yaml` with each stage's code deps replaced by `code_deps` of its script; nothing else changes."""
    wanted = {name: code_deps(root / script, root, package_data) for name, script in stage_scripts(dvc_yaml).items()}
    lines = dvc_yaml.splitlines(keepends=True)
    out: list[str] = []
    stage, index, in_stages = None, 0, False
    while index < len(lines):
        line = lines[index]
        top = re.match(r"([^\s#][^:]*):", line)
        if top:
            stage = None
            in_stages = top.group(1) == "stages"
        elif in_stages and (match := re.match(r"  ([^\s#][^:]*):", line)):
            stage = match.group(1)
        out.append(line)
        index += 1
        deps = re.match(r"( +)deps:\s*(#.*)?$", line)
        if not (deps and stage in wanted):
            continue
        block_end = index
        item_indent = None
        while block_end < len(lines):
            current = lines[block_end]
            item = re.match(r"( *)- ", current)
            if item and item_indent is None and len(item.group(1)) >= len(deps.group(1)):
                item_indent = item.group(1)
            if not ((item and item.group(1) == item_indent) or re.match(r"\s*(#.*)?$", current)):
                break
            block_end += 1
        while block_end > index and not lines[block_end - 1].strip():  # blank lines after the list are not its own
            block_end -= 1
        indent = item_indent if item_indent is not None else deps.group(1) + "  "
        generated = [f"{indent}- {path}\n" for path in wanted[stage]]
        kept = []
        for current in lines[index:block_end]:
            value = current.strip()[2:].split(" #")[0].strip() if current.strip().startswith("- ") else None
            if value is not None and value.startswith(CODE_PREFIXES):
                kept.append(generated)
                generated = []
            else:
                kept.append([current])
        out.extend(generated)  # no code entry was there: the code goes first
        out.extend(line for group in kept for line in group)
        index = block_end
        stage = None
    return "".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dvc-yaml", type=pathlib.Path, default=ROOT / "dvc.yaml")
    parser.add_argument("--write", action="store_true", help="rewrite the code deps in place (otherwise only check them)")
    args = parser.parse_args(argv)
    root, text = args.dvc_yaml.resolve().parent, args.dvc_yaml.read_text()
    try:
        new = rewrite(text, root)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    old_deps, new_deps = declared_deps(text), declared_deps(new)
    changed = [name for name in new_deps if new_deps[name] != old_deps[name]]
    if args.write:
        if new != text:
            args.dvc_yaml.write_text(new)
        print(f"{args.dvc_yaml.name}: code deps rewritten for {', '.join(changed)}" if changed else f"{args.dvc_yaml.name}: code deps already exact")
        return 0
    scripts = stage_scripts(text)
    for name in changed:
        print("\n".join(check(name, scripts[name], old_deps[name], root)) or f"stage {name}: code deps not in the written order (or package data missing)")
    if changed:
        print(f"{len(changed)} stage(s) to fix: run `make deps` (python tests/stage_deps.py --write)", file=sys.stderr)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
