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
