"""Pictures read from the cache file by rows index exactly as the array in memory would."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtune.data.picture_file import PictureRows, file_crc32, npy_data_offset

ROWS = 23


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A ``uint8 (23, 4, 4, 3)`` array and the same array read from its ``.npy`` file."""
    array = np.random.default_rng(0).integers(0, 256, (ROWS, 4, 4, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("pictures") / "p.npy"
    np.save(path, array)
    return array, PictureRows.open(path)


def test_shape_dtype_and_the_whole_array(stored):
    array, rows = stored
    assert rows.shape == array.shape and rows.dtype == np.uint8 and len(rows) == ROWS
    assert rows.ndim == 4 and rows.nbytes == array.nbytes
    np.testing.assert_array_equal(np.asarray(rows), array)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-ROWS, ROWS - 1), max_size=40))
def test_any_row_list_reads_as_numpy_would(stored, picked):
    array, rows = stored
    index = np.asarray(picked, dtype=np.int64)
    np.testing.assert_array_equal(rows[index], array[index])


@settings(max_examples=60, deadline=None)
@given(st.integers(-30, 30), st.integers(-30, 30), st.sampled_from([None, 1, 2, -1]))
def test_slices_and_slices_of_slices(stored, start, stop, step):
    array, rows = stored
    np.testing.assert_array_equal(np.asarray(rows[start:stop:step]), array[start:stop:step])
    view, part = rows[3:20], array[3:20]
    np.testing.assert_array_equal(np.asarray(view[start:stop:step]), part[start:stop:step])
    np.testing.assert_array_equal(view[np.array([0, -1, 5, 5])], part[[0, -1, 5, 5]])


def test_single_rows_tuples_and_masks(stored):
    array, rows = stored
    np.testing.assert_array_equal(rows[4], array[4])
    np.testing.assert_array_equal(rows[-1], array[-1])
    np.testing.assert_array_equal(rows[2, ..., 0], array[2, ..., 0])
    np.testing.assert_array_equal(rows[[1, 2], 0, 1], array[[1, 2], 0, 1])
    mask = np.arange(ROWS) % 3 == 0
    np.testing.assert_array_equal(rows[mask], array[mask])
    np.testing.assert_array_equal(rows[np.zeros((2, 3), dtype=int)], array[np.zeros((2, 3), int)])


def test_out_of_range_and_bad_indexes_raise(stored):
    _, rows = stored
    with pytest.raises(IndexError):
        rows[np.array([ROWS])]
    with pytest.raises(IndexError):
        rows[-ROWS - 1]
    with pytest.raises(IndexError):
        rows[np.array([0.5])]
    with pytest.raises(IndexError):
        rows[np.array([True, False])]


def test_a_view_outlives_its_parent(tmp_path):
    """Slicing shares the open file; dropping the whole array keeps the view readable."""
    array = np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)
    np.save(tmp_path / "p.npy", array)
    view = PictureRows.open(tmp_path / "p.npy")[1:4]
    import gc

    gc.collect()
    np.testing.assert_array_equal(np.asarray(view), array[1:4])


def test_header_checks_and_crc(tmp_path):
    array = np.arange(48, dtype=np.uint8).reshape(1, 4, 4, 3)
    np.save(tmp_path / "p.npy", array)
    offset, shape = npy_data_offset(tmp_path / "p.npy")
    assert shape == (1, 4, 4, 3)
    import zlib

    with open(tmp_path / "p.npy", "rb") as fh:
        assert file_crc32(fh.fileno(), offset, 48) == zlib.crc32(array.tobytes())
    np.save(tmp_path / "f.npy", array.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        npy_data_offset(tmp_path / "f.npy")
    (tmp_path / "short.npy").write_bytes((tmp_path / "p.npy").read_bytes()[:-1])
    with pytest.raises(ValueError, match="bytes"):
        npy_data_offset(tmp_path / "short.npy")
