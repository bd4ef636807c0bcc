"""params.yaml against the typed params: every key written out, and every typed default equal to it.

A default is written twice (the typed object's, so tests and library callers can build params
directly, and params.yaml's, which is what the pipeline runs and what users read); these tests hold
the two equal, key by key, for every section (docs/params.md, "Where defaults live").
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import pytest

from mnistflow.classical import baselines
from mnistflow.core import params
from mnistflow.data import field as field_set, oversample, preprocess, suites
from mnistflow.evaluation import evaluate, robustness
from mnistflow.fetch import config
from mnistflow.training import config as training

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Each params.yaml section and the typed params its stage reads it into (stages/*.py, load_section).
SECTIONS = {
    "fetch": config.FetchParams,
    "preprocess": preprocess.PreprocessParams,
    "oversample": oversample.OversampleParams,
    "train": training.TrainParams,
    "corrupt": suites.CorruptParams,
    "ood": suites.OodParams,
    "robustness": robustness.RobustnessParams,
    "evaluate": evaluate.EvaluateParams,
    "baselines": baselines.BaselinesParams,
    "field": field_set.FieldParams,
}
TOP_LEVEL_KEYS = {"seed"}  # read by params.load_seed, not a section


def disagreements(default: Any, written: Any, key: str) -> list[str]:
    """Every `key.field` whose typed default differs from params.yaml's, walking nested sections."""
    found = []
    for field in dataclasses.fields(default):
        ours, theirs = getattr(default, field.name), getattr(written, field.name)
        if dataclasses.is_dataclass(ours):
            found += disagreements(ours, theirs, f"{key}.{field.name}")
        elif ours != theirs:
            found.append(f"{key}.{field.name}: the code's default is {ours!r}, params.yaml says {theirs!r}")
    return found


def missing_keys(default: Any, mapping: dict[str, Any], key: str) -> list[str]:
    """Every field of `default` (and of its nested sections) that params.yaml leaves out."""
    found = []
    for field in dataclasses.fields(default):
        ours = getattr(default, field.name)
        if field.name not in mapping:
            found.append(f"{key}.{field.name}")
        elif dataclasses.is_dataclass(ours):
            found += missing_keys(ours, mapping[field.name], f"{key}.{field.name}")
    return found


def test_every_params_yaml_section_has_typed_params_here():
    written = set(params.load_params(ROOT / "params.yaml"))
    assert written - TOP_LEVEL_KEYS == set(SECTIONS), (
        "a params.yaml section without typed params in SECTIONS (tests/test_params_yaml.py) has its defaults unchecked"
    )


@pytest.mark.parametrize("section", SECTIONS)
def test_params_yaml_writes_out_every_key_of_the_section(section):
    assert missing_keys(SECTIONS[section](), params.load_params(ROOT / "params.yaml")[section], section) == []


@pytest.mark.parametrize("section", SECTIONS)
def test_every_typed_default_equals_params_yaml(section):
    written = params.load_section(ROOT / "params.yaml", section, SECTIONS[section])
    assert disagreements(SECTIONS[section](), written, section) == []
