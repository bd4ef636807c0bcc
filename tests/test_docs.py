"""The docs say what the code does: param tables match params.yaml, and every path they name exists.

Param tables are Markdown tables whose header is exactly `| key | default | meaning |`, in
README.md or any docs/*.md page. Each row's key is one code span (`train.epochs`) and its default
one code span holding a YAML value (`24`, `null`, `[sgd, knn]`, `{scaler: minmax, ...}`).

A documented key covers its whole subtree of params.yaml: `baselines.models.knn` with a mapping
as its default documents every key under it. Every leaf of params.yaml (a scalar, a list or an
empty mapping) must be covered by exactly one documented key, and each documented default must
equal params.yaml's value once YAML formatting is normalised (`1.0` == `1.0`, `24` == `24.0`,
key order ignored; `true` stays distinct from `1`).

Paths: every `src/...`, `stages/...`, `docs/...` and `plots/...` path the pages mention (prose,
code spans and code blocks alike), and every relative Markdown link, must exist in the checkout.
`{a,b}` expands to both; `<name>` is a placeholder that must match at least one file.
"""
from __future__ import annotations

import itertools
import pathlib
import re
import textwrap

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PARAMS = ROOT / "params.yaml"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

PARAM_TABLE_HEADER = ["key", "default", "meaning"]
PATH_PATTERN = re.compile(r"(?<![\w./-])((?:src|stages|docs|plots)/(?:[\w.*<>/-]|\{[\w.,-]*\})*)")
LINK_PATTERN = re.compile(r"\]\(([^)\s]+)\)")


# --- parsing ----------------------------------------------------------------------------------


def table_cells(line: str) -> list[str] | None:
    """The cells of a Markdown table row (pipes inside code spans or escaped do not split), or None."""
    line = line.strip()
    if not line.startswith("|"):
        return None
    cells, cell, in_code = [], [], False
    previous = ""
    for char in line[1:]:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code and previous != "\\":
            cells.append("".join(cell).strip())
            cell = []
        else:
            cell.append(char)
        previous = char
    if "".join(cell).strip():
        cells.append("".join(cell).strip())
    return cells


def code_span(cell: str) -> str | None:
    """The text of a cell that is exactly one code span, else None."""
    match = re.fullmatch(r"`([^`]*)`", cell.strip())
    return match.group(1) if match else None


def param_rows(text: str) -> list[tuple[int, str, str]]:
    """(line number, key cell, default cell) of every row of every param table in `text`."""
    rows = []
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        cells = table_cells(line)
        if cells is None:
            in_table = False
            continue
        if [cell.lower() for cell in cells] == PARAM_TABLE_HEADER:
            in_table = True
            continue
        if in_table and not set("".join(cells)) <= set("-: "):
            rows.append((number, cells[0], cells[1] if len(cells) > 1 else ""))
    return rows


def leaves(tree: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of params.yaml's leaves: a scalar, a list, or an empty mapping."""
    if isinstance(tree, dict) and tree:
        return [leaf for key, value in tree.items() for leaf in leaves(value, (*prefix, str(key)))]
    return [prefix]


def lookup(tree: object, path: tuple[str, ...]) -> object:
    """The value at `path`; KeyError if params.yaml has no such key."""
    for part in path:
        if not isinstance(tree, dict) or part not in {str(key) for key in tree}:
            raise KeyError(".".join(path))
        tree = next(value for key, value in tree.items() if str(key) == part)
    return tree


def normalise(value: object) -> object:
    """A comparable form of a YAML value: numbers as floats, key order and key types ignored."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", float(value))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(normalise(item) for item in value))
    if isinstance(value, dict):
        return ("mapping", tuple(sorted((str(key), normalise(item)) for key, item in value.items())))
    return value


def mentioned_paths(text: str) -> list[str]:
    """Repository paths under src/, stages/, docs/, plots/ that `text` mentions, braces expanded."""
    paths = []
    for match in PATH_PATTERN.finditer(text):
        path = match.group(1).rstrip(".,:;").rstrip("/")
        parts = re.split(r"\{([^}]*)\}", path)
        choices = [[part] if index % 2 == 0 else part.split(",") for index, part in enumerate(parts)]
        paths.extend("".join(combination) for combination in itertools.product(*choices))
    return paths


def path_exists(path: str) -> bool:
    if "<" in path or "*" in path:
        return any(ROOT.glob(re.sub(r"<[^>]*>", "*", path)))
    return (ROOT / path).exists()


# --- the parser on tiny literal pages -----------------------------------------------------------


def test_param_rows_reads_only_key_default_meaning_tables():
    text = textwrap.dedent("""\
        | option | default | meaning |
        | --- | --- | --- |
        | `--model` | `x` | not a param |

        | key | default | meaning |
        | --- | --- | --- |
        | `train.epochs` | `24` | passes |
        | `fetch.url.mirrors` | `[a, b]` | with a `|` in code |
        after the table
        | `not.a.row` | `1` | outside any table |
        """)
    assert param_rows(text) == [(7, "`train.epochs`", "`24`"), (8, "`fetch.url.mirrors`", "`[a, b]`")]


def test_leaves_stop_at_lists_scalars_and_empty_mappings():
    tree = {"seed": 1, "a": {"b": [1, 2], "c": {}, "d": {"e": None}}}
    assert leaves(tree) == [("seed",), ("a", "b"), ("a", "c"), ("a", "d", "e")]


def test_normalise_ignores_number_formatting_and_key_order_but_not_bool_against_number():
    assert normalise(yaml.safe_load("{b: 1.0, a: [24]}")) == normalise({"a": [24.0], "b": 1})
    assert normalise(yaml.safe_load("{5: 0.1}")) == normalise({"5": 0.1})
    assert normalise(True) != normalise(1)


def test_mentioned_paths_expand_braces_and_drop_trailing_punctuation():
    text = "see `plots/x/{train,val}.csv`, src/mnistflow/core/. and .dvc/plots/t.json or dvc_plots/i.html"
    assert mentioned_paths(text) == ["plots/x/train.csv", "plots/x/val.csv", "src/mnistflow/core"]


# --- the real docs ----------------------------------------------------------------------------


def documented_params() -> list[tuple[str, int, str, str]]:
    """(page, line, key, default cell) of every param-table row in the README and docs/."""
    rows = []
    for page in PAGES:
        for number, key_cell, default_cell in param_rows(page.read_text(encoding="utf-8")):
            rows.append((str(page.relative_to(ROOT)), number, key_cell, default_cell))
    return rows


def test_param_table_rows_are_a_code_span_key_and_a_code_span_default():
    bad = [
        f"{page}:{line}: {key_cell} | {default_cell}"
        for page, line, key_cell, default_cell in documented_params()
        if code_span(key_cell) is None or code_span(default_cell) is None
    ]
    assert not bad, "param table rows need `key` and `default` as single code spans:\n" + "\n".join(bad)


def test_every_documented_param_is_in_params_yaml():
    params = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    unknown = []
    for page, line, key_cell, _ in documented_params():
        key = code_span(key_cell) or key_cell
        try:
            lookup(params, tuple(key.split(".")))
        except KeyError:
            unknown.append(f"{page}:{line}: {key}")
    assert not unknown, "documented keys that params.yaml does not have:\n" + "\n".join(unknown)


def test_every_params_yaml_key_is_documented_exactly_once():
    params = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    documented = [
        (page, line, tuple((code_span(cell) or cell).split("."))) for page, line, cell, _ in documented_params()
    ]
    problems = []
    for leaf in leaves(params):
        covering = [f"{page}:{line}" for page, line, key in documented if leaf[: len(key)] == key]
        if len(covering) != 1:
            where = ", ".join(covering) or "nowhere"
            problems.append(f"{'.'.join(leaf)}: documented {len(covering)} times ({where})")
    assert not problems, "every params.yaml key needs exactly one param-table row:\n" + "\n".join(problems)


def test_every_documented_default_equals_params_yaml():
    params = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    wrong = []
    for page, line, key_cell, default_cell in documented_params():
        key, default = code_span(key_cell), code_span(default_cell)
        if key is None or default is None:
            continue  # reported by the code-span test
        try:
            actual = lookup(params, tuple(key.split(".")))
        except KeyError:
            continue  # reported by the unknown-key test
        try:
            documented = yaml.safe_load(default)
        except yaml.YAMLError as error:
            wrong.append(f"{page}:{line}: {key}: default `{default}` is not YAML ({error.problem})")
            continue
        if normalise(documented) != normalise(actual):
            wrong.append(f"{page}:{line}: {key}: documented `{default}`, params.yaml has {actual!r}")
    assert not wrong, "documented defaults that differ from params.yaml:\n" + "\n".join(wrong)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_path_the_page_mentions_exists(page):
    missing = sorted({path for path in mentioned_paths(page.read_text(encoding="utf-8")) if not path_exists(path)})
    assert not missing, f"{page.relative_to(ROOT)} mentions paths that do not exist: {', '.join(missing)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_in_the_page_resolves(page):
    missing = []
    prose = re.sub(r"`[^`\n]*`", "", page.read_text(encoding="utf-8"))  # code spans hold no links
    for target in LINK_PATTERN.findall(prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        resolved = (page.parent / target.split("#")[0]).resolve()
        if not resolved.exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to files that do not exist: {', '.join(missing)}"
