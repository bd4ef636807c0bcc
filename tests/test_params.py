from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from mnistflow.core import params


@dataclasses.dataclass(frozen=True)
class Inner:
    width: int = dataclasses.field(default=3, metadata=params.check(params.positive))


@dataclasses.dataclass(frozen=True)
class Example:
    epochs: int = dataclasses.field(default=10, metadata=params.check(params.positive))
    fraction: float = dataclasses.field(default=0.1, metadata=params.check(params.between(0, 1, low_open=True, high_open=True)))
    method: Literal["none", "random"] = "none"
    limit: int | None = None
    blocks: tuple[Inner, ...] = ()
    weights: dict[int, float] = dataclasses.field(default_factory=dict)


def test_parse_fills_defaults_and_converts_types():
    parsed = params.parse(Example, {"fraction": 1 / 4, "blocks": [{"width": 5}, {}], "weights": {5: 1}}, key="train")
    assert parsed == Example(epochs=10, fraction=0.25, blocks=(Inner(5), Inner(3)), weights={5: 1.0})


def test_parse_accepts_an_integer_where_a_number_is_expected():
    assert params.parse(Example, {"weights": {1: 1}}, key="train").weights == {1: 1.0}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"epochs": -3}, r"^train\.epochs must be positive; got -3$"),
        ({"epochs": 2.5}, r"^train\.epochs must be an integer; got 2\.5$"),
        ({"epochs": True}, r"^train\.epochs must be an integer; got True$"),
        ({"fraction": 1.0}, r"^train\.fraction must be in \(0, 1\); got 1\.0$"),
        ({"method": "smote"}, r"^train\.method must be one of 'none', 'random'; got 'smote'$"),
        ({"epoch": 3}, r"^train\.epoch is not a known parameter; expected one of: epochs, fraction, method"),
        ({"blocks": [{"width": 0}]}, r"^train\.blocks\[0\]\.width must be positive; got 0$"),
        ({"limit": "ten"}, r"^train\.limit must be an integer; got 'ten'$"),
        ({"weights": {"five": 1}}, r"^train\.weights key must be an integer; got 'five'$"),
        ("not a mapping", r"^train must be a mapping of parameters; got 'not a mapping'$"),
    ],
)
def test_parse_rejects_bad_values_naming_the_key(mapping, message):
    with pytest.raises(ValueError, match=message):
        params.parse(Example, mapping, key="train")


def test_load_section_names_a_missing_section(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\nfetch: {}\n")
    with pytest.raises(ValueError, match=r"params\.yaml: section 'train' is missing"):
        params.load_section(path, "train", Example)


def test_load_seed_rejects_a_negative_seed(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: -1\n")
    with pytest.raises(ValueError, match=r"^seed must be at least 0; got -1$"):
        params.load_seed(path)


def test_load_params_reports_invalid_yaml_on_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train: [1, 2\n")
    with pytest.raises(ValueError) as raised:
        params.load_params(path)
    assert str(raised.value).startswith(f"{path}: not valid YAML")
    assert "\n" not in str(raised.value)
