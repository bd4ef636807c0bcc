import os
import stat

import pytest

from mnistflow.core import atomic


def test_atomic_path_leaves_the_old_file_when_the_block_fails(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_gives_the_file_the_usual_mode_not_mkstemps_0600(tmp_path):
    atomic.write_text(tmp_path / "out.txt", "new")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~mask


def test_atomic_dir_replaces_the_directory_only_on_success(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "old").write_text("x")
    with pytest.raises(RuntimeError):
        with atomic.atomic_dir(target) as temporary:
            (temporary / "new").write_text("y")
            raise RuntimeError("interrupted")
    assert [p.name for p in target.iterdir()] == ["old"]
    with atomic.atomic_dir(target) as temporary:
        (temporary / "new").write_text("y")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_save_keras_gives_identical_bytes_for_the_same_model_and_the_file_still_loads(tmp_path):
    import json
    import zipfile

    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    atomic.save_keras(model, tmp_path / "first.keras")
    atomic.save_keras(model, tmp_path / "second.keras")
    assert (tmp_path / "first.keras").read_bytes() == (tmp_path / "second.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "first.keras") as archive:  # no date of the save left anywhere
        assert {info.date_time for info in archive.infolist()} == {atomic.ZIP_DATE_TIME}
        assert json.loads(archive.read("metadata.json"))["date_saved"] == atomic.KERAS_DATE_SAVED
    loaded = keras.models.load_model(tmp_path / "first.keras")
    images = np.random.default_rng(0).uniform(0, 255, (2, 28, 28, 1)).astype(np.float32)
    assert np.array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["first.keras", "second.keras"]
