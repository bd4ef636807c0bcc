"""Typed, validated params: one frozen dataclass per `params.yaml` section.

`parse(cls, mapping, key=...)` turns a plain mapping into `cls`, rejecting unknown keys, wrong types
and out-of-range values with one-line messages that name the full key, e.g.
`train.epochs must be a positive integer; got -3`. Range rules live next to each field:

    @dataclasses.dataclass(frozen=True)
    class TrainParams:
        epochs: int = dataclasses.field(default=10, metadata=check(positive))

A class may add cross-field checks in `__post_init__`, raising ValueError with the full key, and
name renamed keys in a class attribute `RENAMED = {"old": "new"}`, so the old key's error names the new one.
Library code receives these objects; only stage scripts read `params.yaml` (`load_section`).
"""
from __future__ import annotations

import dataclasses
import pathlib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import yaml

Rule = Callable[[Any], "str | None"]


def check(*rules: Rule) -> dict[str, tuple[Rule, ...]]:
    """Field metadata: each rule returns None when the value is fine, else what was expected."""
    return {"rules": rules}


def positive(value: Any) -> str | None:
    return None if value > 0 else "positive"


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else "at least 0"


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Rule:
    """A rule for low <= value <= high; an open end excludes that bound."""

    def rule(value: Any) -> str | None:
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if above and below:
            return None
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"

    return rule


def load_params(path: str | pathlib.Path = "params.yaml") -> dict[str, Any]:
    """Read the whole params file; it must be a YAML mapping."""
    path = pathlib.Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0]
        raise ValueError(f"{path}: not valid YAML ({first_line})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of sections (fetch:, train:, ...); got {type(data).__name__}")
    return data


def load_section(path: str | pathlib.Path, section: str, cls: type[Any]) -> Any:
    """Read `section` of the params file at `path` into the dataclass `cls`."""
    params = load_params(path)
    if section not in params:
        raise ValueError(f"{path}: section '{section}' is missing; add '{section}:' (see docs/params.md)")
    return parse(cls, params[section] if params[section] is not None else {}, key=section)


def load_seed(path: str | pathlib.Path = "params.yaml") -> int:
    """The shared top-level `seed`: a non-negative integer."""
    params = load_params(path)
    if "seed" not in params:
        raise ValueError(f"{path}: key 'seed' is missing; add 'seed: 42' at the top level")
    return _convert(params["seed"], int, "seed", non_negative)


def parse(cls: type[Any], mapping: Any, *, key: str) -> Any:
    """Build the frozen dataclass `cls` from `mapping`; `key` is its dotted name for messages."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{key} must be a mapping of parameters; got {mapping!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(mapping) - set(fields), key=str)
    renamed = getattr(cls, "RENAMED", {})  # a class's old key -> its new key, named in the message
    if unknown and unknown[0] in renamed:
        raise ValueError(f"{key}.{unknown[0]} is now called {key}.{renamed[unknown[0]]}; rename it")
    if unknown:
        raise ValueError(
            f"{key}.{unknown[0]} is not a known parameter; expected one of: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name not in mapping:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ValueError(f"{key}.{name} is missing; it has no default")
            continue
        values[name] = _convert(mapping[name], hints[name], f"{key}.{name}", *field.metadata.get("rules", ()))
    return cls(**values)


def _convert(value: Any, hint: Any, key: str, *rules: Rule) -> Any:
    converted = _coerce(value, hint, key)
    for rule in rules:
        if converted is None:
            break
        expected = rule(converted)
        if expected is not None:
            raise ValueError(f"{key} must be {expected}; got {value!r}")
    return converted


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(value, option, key)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(errors[0] if len(errors) == 1 else f"{key} must be {_describe(hint)}; got {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ValueError(f"{key} must be one of {', '.join(repr(a) for a in args)}; got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} must be a list; got {value!r}")
        item = args[0]
        return tuple(_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ValueError(f"{key} must be a mapping; got {value!r}")
        key_type, value_type = args
        return {
            _coerce(k, key_type, f"{key} key"): _coerce(v, value_type, f"{key}.{k}") for k, v in value.items()
        }
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, key=key)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{key} must be true or false; got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{key} must be an integer; got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{key} must be a number; got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{key} must be a string; got {value!r}")
    raise TypeError(f"unsupported parameter type {hint!r} for {key}")  # a bug in a params class


def _describe(hint: Any) -> str:
    names = [getattr(a, "__name__", repr(a)) for a in typing.get_args(hint) if a is not type(None)]
    return " or ".join(names) + (" or null" if type(None) in typing.get_args(hint) else "")
