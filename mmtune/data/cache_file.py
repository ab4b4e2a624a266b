"""The picture cache's files: ``<key>.npy`` (the pictures, ``uint8 (N, R, R, 3)``, read a
batch of rows at a time: :mod:`mmtune.data.picture_file`) and ``<key>.json`` (:class:`CacheMeta`:
the key, the pictures' CRC-32, what the build found).

The key is a sha256 of the format version, the resolution and the data's content hash
(:mod:`mmtune.data.picture_hash`). What a hit trusts is only that a cache file under that key
was written by mmtune from exactly those bytes; the CRC-32 catches a damaged file. The
pictures are written straight into the ``.npy`` under a temporary name and renamed when
whole, then the metadata: a file that cannot be read whole (a crash mid-write, a truncated
or damaged file) is a miss, rebuilt, and never breaks a run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmtune.atomic import atomic_path, atomic_write_text
from mmtune.data.picture_file import PictureRows, file_crc32, write_npy_header
from mmtune.errors import Problem

__all__ = ["FORMAT_VERSION", "CacheMeta", "cache_key", "read_cache", "write_cache"]

FORMAT_VERSION = 3  # 2: keyed by the pictures' bytes; 16-bit scaled; 3: .npy read by rows + .json
_STALE_TEMP_SECONDS = 3600

#: ``store(first row, pictures)``: where a build hands each decoded chunk of rows.
Store = Callable[[int, np.ndarray], None]


@dataclass
class CacheMeta:
    """``<key>.json``: what the cache file holds and what its build found (every picture's
    problem, whatever the resolution; on a hit only the CSVs are checked again)."""

    resolution: int
    rows: int
    data_hash: str  # of the bytes the build decoded (the key's, unless they changed)
    image_size: list[int]  # the most common picture size, [height, width]
    sizes: dict[str, int]  # "WxH": pictures of that size, most first
    modes: dict[str, int]  # Pillow mode: pictures of that mode, most first
    problems: list[Problem]
    built_at: str
    format: int = FORMAT_VERSION
    key: str = ""
    pictures_crc32: int | None = None
    build_seconds: float | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CacheMeta:
        """The metadata read back; raises ``ValueError`` or ``TypeError`` when it is not one."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("Expected a JSON object")
        raw["problems"] = [Problem(**d) for d in raw.get("problems", [])]
        return cls(**raw)


def cache_key(resolution: int, data_hash: str) -> str:
    """The cache's key: the format, the resolution and the data's content hash."""
    text = f"mmtune-pictures v{FORMAT_VERSION}\nresolution {resolution}\n{data_hash}\n"
    return hashlib.sha256(text.encode()).hexdigest()


def read_cache(
    target: Path, key: str, rows: int, resolution: int
) -> tuple[PictureRows, CacheMeta] | None:
    """The cached pictures (read from the file as needed) and metadata, or ``None`` when
    absent or not whole: the metadata names the key and the pictures' CRC-32, which the
    file's bytes must match (a crash mid-write or a damaged file is a miss, never an error)."""
    try:
        meta = CacheMeta.from_json(target.with_suffix(".json").read_text(encoding="utf-8"))
        if meta.format != FORMAT_VERSION or meta.key != key:
            return None
        pictures = PictureRows.open(target)
        if pictures.shape != (rows, resolution, resolution, 3):
            return None
        if file_crc32(pictures.fileno(), pictures.offset, pictures.nbytes) != meta.pictures_crc32:
            return None
    except (OSError, ValueError, TypeError):
        return None
    return pictures, meta


def write_cache(
    target: Path,
    key: str,
    shape: tuple[int, int, int, int],
    build: Callable[[Store], CacheMeta],
    started: float,
) -> tuple[PictureRows, CacheMeta]:
    """Write the pictures ``build`` decodes straight into ``target`` (never the whole array
    in memory), then its metadata; ``build`` raising leaves no cache behind. ``started``:
    when the build began (``time.perf_counter``). Raises ``OSError`` where the folder
    cannot take it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target.parent)
    with atomic_path(target, suffix=".npy") as tmp, open(tmp, "r+b") as fh:
        offset = write_npy_header(fh, shape)
        fh.truncate(offset + int(np.prod(shape)))
        row_bytes = int(np.prod(shape[1:]))

        def to_file(start: int, chunk: np.ndarray) -> None:
            data, at = memoryview(chunk.tobytes()), offset + start * row_bytes
            while data:  # a regular file takes it whole; a short write goes on
                done = os.pwrite(fh.fileno(), data, at)
                data, at = data[done:], at + done

        meta = build(to_file)
        fh.flush()
        meta.pictures_crc32 = file_crc32(fh.fileno(), offset, int(np.prod(shape)))
    meta.key, meta.build_seconds = key, round(time.perf_counter() - started, 3)
    atomic_write_text(target.with_suffix(".json"), meta.to_json())
    return PictureRows.open(target), meta


def _remove_stale_temps(folder: Path) -> None:
    """Remove temporary files older than an hour (left by a crashed build), and the caches
    of format 2 and before (``<key>.npz`` with its ``<key>.json``), which no version since
    reads: a few MB to a GB each."""
    now = time.time()
    for tmp in folder.glob(".tmp-*"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TEMP_SECONDS:
                tmp.unlink()
        except OSError:
            pass
    for old in folder.glob("*.npz"):
        for path in (old, old.with_suffix(".json")):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
