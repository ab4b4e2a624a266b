"""Cached pictures read from their file a batch at a time, never held whole in memory.

The picture cache is one ``.npy`` file of ``uint8 (N, R, R, 3)`` rows. A
:class:`PictureRows` looks like that array to the code that reads it (``shape``,
``dtype``, ``len``, indexing by a row, a slice or an array of rows) but reads only
the rows asked for, with ``os.pread`` (one read per run of consecutive rows), from
the operating system's page cache. The process's resident memory does not grow
with the data set: at the competition's size the 128 px pictures are 848 MB, which a
search would otherwise hold for as long as it trains at that resolution (a memory
map would count them too, once every row had been read). ``np.asarray`` gives the
whole array when a caller truly needs it.

>>> rows = PictureRows.open("cache/<key>.npy")       # doctest: +SKIP
>>> rows[np.array([5, 2, 3])].shape                   # doctest: +SKIP
(3, 64, 64, 3)
"""

from __future__ import annotations

import os
import weakref
import zlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Pictures", "PictureRows", "npy_data_offset", "write_npy_header", "file_crc32"]

_READ_CHUNK = 8 << 20


class PictureRows:
    """Rows ``[start, stop)`` of a ``uint8 (N, R, R, 3)`` array stored at ``offset`` in
    ``path``; indexing reads those rows from the file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        offset: int,
        shape: tuple[int, ...],
        start: int = 0,
        stop: int | None = None,
        _fd: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.offset = int(offset)
        self.row_shape = tuple(int(s) for s in shape[1:])
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64))
        total = int(shape[0])
        self.start = int(start)
        self.stop = total if stop is None else int(stop)
        if not 0 <= self.start <= self.stop <= total:
            raise ValueError(f"rows {self.start}:{self.stop} outside 0:{total}")
        if _fd is None:
            _fd = os.open(self.path, os.O_RDONLY)
            weakref.finalize(self, os.close, _fd)
        self._fd = _fd
        self._owner: PictureRows | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> PictureRows:
        """The whole array of a ``.npy`` file (``uint8``, C order)."""
        offset, shape = npy_data_offset(path)
        return cls(path, offset, shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.stop - self.start, *self.row_shape)

    @property
    def dtype(self) -> np.dtype[np.uint8]:
        return np.dtype(np.uint8)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    @property
    def nbytes(self) -> int:
        return len(self) * self.row_bytes

    def __len__(self) -> int:
        return self.stop - self.start

    def fileno(self) -> int:
        """The open file's descriptor (shared by every view of it)."""
        return self._fd

    def __repr__(self) -> str:
        return f"PictureRows({str(self.path)!r}, shape={self.shape})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self.take(np.arange(len(self)))
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            head, rest = key[0], key[1:]
            picked = self[head]
            if isinstance(picked, PictureRows):
                picked = np.asarray(picked)
            lead = () if isinstance(head, (int, np.integer)) else (slice(None),)
            return picked[lead + rest]
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1:
                view = PictureRows(
                    self.path,
                    self.offset,
                    (self.stop, *self.row_shape),
                    self.start + start,
                    self.start + max(start, stop),
                    _fd=self._fd,
                )
                view._owner = self._owner or self  # keeps the file open while the view lives
                return view
            return self.take(np.arange(start, stop, step))
        if isinstance(key, (int, np.integer)):
            return self.take(np.asarray([key]))[0]
        return self.take(np.asarray(key))

    def take(self, rows: np.ndarray) -> np.ndarray:
        """``uint8 (len(rows), R, R, 3)``: the given rows (any order, repeats, negatives)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (len(self),):
                raise IndexError(f"boolean index of shape {rows.shape} for {len(self)} rows")
            rows = np.flatnonzero(rows)
        if rows.size and not np.issubdtype(rows.dtype, np.integer):
            raise IndexError(f"rows must be integers. Received: dtype {rows.dtype}")
        flat = rows.astype(np.int64).ravel()
        n = len(self)
        if flat.size and (flat.min() < -n or flat.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        flat = np.where(flat < 0, flat + n, flat) + self.start
        out = np.empty((flat.size, *self.row_shape), dtype=np.uint8)
        if flat.size:
            order = np.argsort(flat, kind="stable")
            ordered = flat[order]
            breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
            for run in np.split(np.arange(flat.size), breaks):
                first, count = int(ordered[run[0]]), len(run)
                data = _pread_exact(
                    self._fd, count * self.row_bytes, self.offset + first * self.row_bytes
                )
                out[order[run]] = np.frombuffer(data, dtype=np.uint8).reshape(
                    count, *self.row_shape
                )
        return out.reshape(*rows.shape, *self.row_shape)


def _pread_exact(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset``, or ``OSError`` if the file is shorter."""
    parts, got = [], 0
    while got < size:
        part = os.pread(fd, size - got, offset + got)
        if not part:
            raise OSError(f"the picture cache ended {size - got} bytes early")
        parts.append(part)
        got += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def write_npy_header(fh: Any, shape: tuple[int, ...]) -> int:
    """Write a ``uint8``, C-order ``.npy`` header for ``shape``; return the data's offset."""
    header = {"descr": "|u1", "fortran_order": False, "shape": tuple(int(s) for s in shape)}
    np.lib.format.write_array_header_1_0(fh, header)
    return int(fh.tell())


def npy_data_offset(path: str | os.PathLike[str]) -> tuple[int, tuple[int, ...]]:
    """``(offset of the data, shape)`` of a ``uint8``, C-order ``.npy`` file, whose size must
    be exactly its header plus its data; ``ValueError`` otherwise."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        offset = fh.tell()
        size = os.fstat(fh.fileno()).st_size
    if dtype != np.uint8 or fortran:
        raise ValueError(f"expected uint8 in C order. Received: {dtype}, fortran={fortran}")
    if size != offset + int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"expected {offset + int(np.prod(shape))} bytes. Received: {size}")
    return offset, tuple(int(s) for s in shape)


def file_crc32(fd: int, offset: int, size: int) -> int:
    """The CRC-32 of ``size`` bytes from ``offset``, read in chunks (never held whole)."""
    crc, done = 0, 0
    while done < size:
        chunk = _pread_exact(fd, min(_READ_CHUNK, size - done), offset + done)
        crc = zlib.crc32(chunk, crc)
        done += len(chunk)
    return crc


#: Pictures as the data hands them out: rows read from the cache file, or (where the cache
#: could not be written) an array in memory. Both index alike.
Pictures = PictureRows | np.ndarray
