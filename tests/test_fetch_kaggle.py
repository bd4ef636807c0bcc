"""Source `kaggle`: only the path without credentials can run here (no network to Kaggle)."""
from __future__ import annotations

import pytest

from mnistflow.fetch import config, kaggle, run

EXPECTED = (
    "fetch.source is 'kaggle' but no Kaggle credentials were found; set KAGGLE_API_TOKEN to an API token "
    "(kaggle.com > Settings > API), or set KAGGLE_USERNAME and KAGGLE_KEY, or save kaggle.json in ~/.kaggle/ "
    "(or in $KAGGLE_CONFIG_DIR); or pick another fetch.source"
)


@pytest.fixture
def no_kaggle_credentials(tmp_path, monkeypatch):
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))


def test_kaggle_load_without_credentials_says_what_to_set_before_downloading(no_kaggle_credentials, tmp_path):
    params = config.FetchParams(source="kaggle", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError) as raised:
        run.load(params)
    assert str(raised.value) == EXPECTED
    assert not (tmp_path / "cache").exists()


def test_kaggle_check_credentials_accepts_a_username_and_key(no_kaggle_credentials, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    with pytest.raises(ValueError):
        kaggle.check_credentials()
    monkeypatch.setenv("KAGGLE_KEY", "0123")
    kaggle.check_credentials()


def test_kaggle_check_credentials_accepts_kaggle_json_in_the_config_dir(no_kaggle_credentials, tmp_path):
    (tmp_path / "kaggle-config").mkdir()
    (tmp_path / "kaggle-config" / "kaggle.json").write_text('{"username": "someone", "key": "0123"}')
    kaggle.check_credentials()


def fake_download(folder, calls):
    def dataset_download(handle, path=None, *, force_download=False, output_dir=None):
        calls.append((handle, output_dir))
        return str(folder)

    return dataset_download


def test_kaggle_load_reads_the_csvs_kagglehub_downloaded_into_the_cache(no_kaggle_credentials, monkeypatch, tmp_path, tiny_csvs):
    import kagglehub

    monkeypatch.setenv("KAGGLE_API_TOKEN", "a-token")
    folder = tmp_path / "downloaded"
    folder.mkdir()
    (folder / "mnist_train.csv").write_bytes(tiny_csvs[0].read_bytes())
    (folder / "mnist_test.csv").write_bytes(tiny_csvs[1].read_bytes())
    calls = []
    monkeypatch.setattr(kagglehub, "dataset_download", fake_download(folder, calls))

    loaded = kaggle.load(tmp_path / "cache", config.KaggleParams())

    assert calls == [("oddrationale/mnist-in-csv", str(tmp_path / "cache" / "kaggle" / "oddrationale__mnist-in-csv"))]
    assert [len(loaded.train_labels), len(loaded.test_labels)] == [300, 100]


def test_kaggle_load_names_a_missing_file_in_the_dataset(no_kaggle_credentials, monkeypatch, tmp_path):
    import kagglehub

    monkeypatch.setenv("KAGGLE_API_TOKEN", "a-token")
    (tmp_path / "downloaded").mkdir()
    (tmp_path / "downloaded" / "train.csv").write_text("label\n")
    monkeypatch.setattr(kagglehub, "dataset_download", fake_download(tmp_path / "downloaded", []))
    with pytest.raises(ValueError, match=r"^kaggle dataset oddrationale/mnist-in-csv has no mnist_train\.csv \(it has train\.csv\); "
                                         r"check fetch\.kaggle\.train_file/test_file$"):
        kaggle.load(tmp_path / "cache", config.KaggleParams())
