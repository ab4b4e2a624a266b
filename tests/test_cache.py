"""The picture cache: hit, miss, rebuild on change, survival of an interrupted build."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tinydata import edit_csv, write_dataset

from mmtune.data import picture_decode
from mmtune.data.cache import load_data
from mmtune.data.picture_decode import decode_one
from mmtune.data.picture_hash import file_sha256
from mmtune.errors import DataError, MmtuneError


@pytest.fixture
def data(tmp_path) -> Path:
    return write_dataset(tmp_path / "data", n_train=16, n_test=6, size=32)


@pytest.fixture
def where(tmp_path) -> Path:
    return tmp_path / "cache"


def _forbid_decoding(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a cache hit must not decode pictures")

    monkeypatch.setattr(picture_decode, "decode_chunk", boom)


def test_contract_shapes_and_dtypes(data, where):
    d = load_data(data, 8, cache_dir=where)
    assert d.train_images.shape == (16, 8, 8, 3) and d.train_images.dtype == np.uint8
    assert d.test_images.shape == (6, 8, 8, 3)
    assert d.train_mfcc.dtype == np.float32 and d.train_mfcc.shape == (16, 6)
    assert d.train_labels.dtype == np.int32
    assert d.spec.image_size == (32, 32) and d.resolution == 8
    assert d.summary["rows"] == {"data_train.csv": 16, "data_test_novt.csv": 6}
    assert [c["name"] for c in d.summary["classes"]] == ["PLACE-A", "PLACE-B", "PLACE-C"]
    assert d.summary["picture_sizes"] == {"32x32": 22} and d.summary["picture_modes"] == {"RGB": 22}


def test_area_resize_equals_average_pooling(data, where):
    d = load_data(data, 8, cache_dir=where)
    full = np.asarray(Image.open(data / "trainimg_00005.png"), dtype=np.float64)
    pooled = full.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3))  # AveragePooling2D((4, 4))
    assert np.abs(d.train_images[5] - pooled).max() <= 0.5 + 1e-9


def test_hit_decodes_nothing(data, where, monkeypatch):
    first = load_data(data, 8, cache_dir=where)
    assert first.summary["cache"]["hit"] is False
    _forbid_decoding(monkeypatch)
    second = load_data(data, 8, cache_dir=where)
    assert second.summary["cache"]["hit"] is True
    np.testing.assert_array_equal(first.train_images, second.train_images)
    np.testing.assert_array_equal(first.test_images, second.test_images)
    assert first.data_hash == second.data_hash
    assert len(list(where.glob("*.npy"))) == 1 and len(list(where.glob("*.json"))) == 1


def test_default_cache_dir_is_under_cache_root(data, _private_cache):
    d = load_data(data, 8)
    assert Path(d.summary["cache"]["path"]).parent == _private_cache / "pictures"


def test_rebuilt_when_a_picture_changes(data, where):
    first = load_data(data, 8, cache_dir=where)
    Image.new("RGB", (32, 32), (1, 2, 3)).save(data / "testimg_00002.png")
    second = load_data(data, 8, cache_dir=where)
    assert second.summary["cache"]["hit"] is False
    assert second.data_hash != first.data_hash
    assert (second.test_images[2] == [1, 2, 3]).all()


def test_rebuilt_when_a_csv_changes(data, where):
    first = load_data(data, 8, cache_dir=where)
    edit_csv(data / "data_train.csv", 0, "mfcc_1", "123.5")
    second = load_data(data, 8, cache_dir=where)
    assert second.summary["cache"]["hit"] is False and second.data_hash != first.data_hash
    assert second.train_mfcc[0, 0] == 123.5


def test_touch_is_a_hit_and_the_content_hash_stays(data, where, monkeypatch):
    first = load_data(data, 8, cache_dir=where)
    path = data / "trainimg_00000.png"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _forbid_decoding(monkeypatch)
    second = load_data(data, 8, cache_dir=where)
    assert second.summary["cache"]["hit"] is True
    assert second.data_hash == first.data_hash


def test_other_pixels_of_the_same_size_and_time_are_a_miss(data, where):
    """The issue's case: a picture replaced by other pixels, its byte size and
    modification time restored, was served from the cache under the old hash."""
    first = load_data(data, 8, cache_dir=where)
    path = data / "trainimg_00003.png"
    st = path.stat()
    raw = bytearray(path.read_bytes())
    pixels = np.asarray(Image.open(path)).copy()
    pixels[..., 0] = 255 - pixels[..., 0]  # other pixels ...
    Image.fromarray(pixels).save(path)
    raw2 = path.read_bytes()
    if len(raw2) < len(raw):  # ... padded (after IEND, ignored by decoders) to the same size
        raw2 += b"\0" * (len(raw) - len(raw2))
    elif len(raw2) > len(raw):
        pytest.skip("the new picture compresses larger; cannot keep the byte size")
    path.write_bytes(raw2)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    second = load_data(data, 8, cache_dir=where)
    assert second.summary["cache"]["hit"] is False
    assert second.data_hash != first.data_hash
    assert not np.array_equal(second.train_images[3], first.train_images[3])


def test_a_picture_over_the_size_limit_is_refused_unread(data, where, monkeypatch):
    path = data / "testimg_00001.png"
    with open(path, "wb") as fh:  # sparse: 1 GB on paper, nothing on disk
        fh.truncate(2**30)
    read = []
    real_open = open

    def watching_open(file, mode="r", *a, **k):
        handle = real_open(file, mode, *a, **k)
        if str(file) == str(path.resolve()) and "b" in mode:
            real_read = handle.read
            handle = _Watched(handle, lambda n=-1: read.append(n) or real_read(n))
        return handle

    monkeypatch.setattr("builtins.open", watching_open)
    with pytest.raises(DataError) as exc:
        load_data(data, 8, cache_dir=where)
    message = str(exc.value)
    assert "data_test_novt.csv, row 1" in message and "1,024 MB" in message
    assert "at most 64 MB" in message and "not read" in message
    assert read == []


class _Watched:
    """A file object whose ``read`` is observed."""

    def __init__(self, handle, read):
        self._handle, self.read = handle, read

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()

    def __getattr__(self, name):
        return getattr(self._handle, name)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(data, where):
    ramp = (np.arange(32 * 32, dtype=np.uint32).reshape(32, 32) * 64).astype(np.uint16)
    Image.fromarray(ramp).save(data / "trainimg_00005.png")
    assert Image.open(data / "trainimg_00005.png").mode.startswith("I")
    d = load_data(data, 32, cache_dir=where)
    got = d.train_images[5, ..., 0].astype(int)
    expected = np.rint(ramp / 257.0).astype(int)
    assert np.abs(got - expected).max() <= 1
    assert got.min() == 0 and got.max() >= 250  # the whole range, not 192..255
    assert any("16-bit grayscale (scaled to 8 bits)" in str(w) for w in d.warnings)


@pytest.mark.parametrize("resolution", [0, 7, 1025, 100_000])
def test_resolution_outside_8_to_1024_is_refused(data, where, resolution):
    with pytest.raises(MmtuneError, match=f"between 8 and 1024 pixels. Received: {resolution}"):
        load_data(data, resolution, cache_dir=where)


def test_resolution_has_its_own_cache_and_same_data_hash(data, where):
    small = load_data(data, 8, cache_dir=where)
    large = load_data(data, 16, cache_dir=where)
    assert large.summary["cache"]["hit"] is False and large.train_images.shape[1:] == (16, 16, 3)
    assert small.data_hash == large.data_hash
    assert load_data(data, 8, cache_dir=where).summary["cache"]["hit"] is True


def test_interrupted_build_is_ignored_and_rebuilt(data, where):
    good = load_data(data, 8, cache_dir=where)
    pictures = np.asarray(good.train_images)  # read before the file is cut (same inode)
    target = Path(good.summary["cache"]["path"])
    # what a crash leaves: a stray temporary file and a cache cut short
    (where / f".tmp-{target.name}-abc123.npy").write_bytes(target.read_bytes()[:100])
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    again = load_data(data, 8, cache_dir=where)
    assert again.summary["cache"]["hit"] is False
    np.testing.assert_array_equal(pictures, again.train_images)
    assert load_data(data, 8, cache_dir=where).summary["cache"]["hit"] is True


@pytest.mark.parametrize("damage", ["garbage", "empty", "flipped byte"])
def test_damaged_cache_is_rebuilt(damage, data, where):
    good = load_data(data, 8, cache_dir=where)
    pictures = np.asarray(good.train_images)  # read before the file is damaged (same inode)
    target = Path(good.summary["cache"]["path"])
    raw = bytearray(target.read_bytes())
    if damage == "garbage":
        raw = bytearray(b"not a picture cache at all")
    elif damage == "empty":
        raw = bytearray()
    else:
        raw[len(raw) // 3] ^= 0xFF  # inside the pictures: the stored CRC-32 catches it
    target.write_bytes(bytes(raw))
    again = load_data(data, 8, cache_dir=where)
    assert again.summary["cache"]["hit"] is False
    np.testing.assert_array_equal(pictures, again.train_images)


def test_stale_temp_files_are_swept(data, where):
    where.mkdir()
    stale = where / ".tmp-old.npy-xyz.npy"
    stale.write_bytes(b"half")
    os.utime(stale, (1, 1))
    fresh = where / ".tmp-other.npy-xyz.npy"  # maybe another process's build in progress
    fresh.write_bytes(b"half")
    load_data(data, 8, cache_dir=where)
    assert not stale.exists() and fresh.exists()


def test_a_build_removes_caches_of_the_old_format(data, where):
    where.mkdir()
    (where / "oldkey.npz").write_bytes(b"PK\x03\x04 a format-2 cache")
    (where / "oldkey.json").write_text("{}")
    (where / "notes.json").write_text("{}")  # not a cache's: no .npz beside it
    load_data(data, 8, cache_dir=where)
    assert not (where / "oldkey.npz").exists() and not (where / "oldkey.json").exists()
    assert (where / "notes.json").exists()


def test_picture_problems_survive_a_hit(data, where, monkeypatch):
    path = data / "trainimg_00002.png"
    Image.open(path).convert("L").save(path)
    first = load_data(data, 8, cache_dir=where)
    _forbid_decoding(monkeypatch)
    second = load_data(data, 8, cache_dir=where)
    assert [str(w) for w in first.warnings] == [str(w) for w in second.warnings]
    assert any("grayscale" in str(w) and w.row == 2 for w in second.warnings)
    assert (second.train_images[2, ..., 0] == second.train_images[2, ..., 1]).all()


def test_strict_refuses_other_sizes_even_on_a_hit(data, where):
    path = data / "trainimg_00001.png"
    Image.open(path).resize((40, 40)).save(path)
    d = load_data(data, 8, cache_dir=where)
    assert d.spec.image_size == (32, 32) and any("40x40" in str(w) for w in d.warnings)
    with pytest.raises(DataError) as exc:
        load_data(data, 8, cache_dir=where, strict=True)
    (problem,) = [p for p in exc.value.problems if p.severity == "error"]
    assert (problem.file, problem.row, problem.column) == ("data_train.csv", 1, "IMAGE")


def test_undecodable_picture_is_never_cached(data, where):
    path = data / "testimg_00003.png"
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(DataError) as exc:
        load_data(data, 8, cache_dir=where)
    assert "testimg_00003.png" in str(exc.value) and "row 3" in str(exc.value)
    assert not list(where.glob("*.npy"))


def test_parallel_build_equals_serial(data, tmp_path):
    serial = load_data(data, 8, cache_dir=tmp_path / "a", workers=1)
    parallel = load_data(data, 8, cache_dir=tmp_path / "b", workers=2)
    np.testing.assert_array_equal(serial.train_images, parallel.train_images)
    np.testing.assert_array_equal(serial.test_images, parallel.test_images)
    assert serial.data_hash == parallel.data_hash


def test_progress_bar_on_request(data, where, capsys):
    load_data(data, 8, cache_dir=where, progress=True)
    assert "decoding pictures" in capsys.readouterr().err
    load_data(data, 16, cache_dir=where)  # stderr is not a terminal under pytest: quiet
    assert capsys.readouterr().err == ""


def test_a_link_swapped_in_after_the_check_is_not_followed(tmp_path):
    outside = tmp_path / "outside.png"
    Image.new("RGB", (8, 8)).save(outside)
    link = tmp_path / "link.png"
    link.symlink_to(outside)
    digest, error = file_sha256(str(link))
    assert digest == "" and "cannot be read" in error
    info, pixels = decode_one(str(link), 8)
    assert pixels is None and "cannot be read" in info["error"]
