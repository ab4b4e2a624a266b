"""Decode every picture once, at the model's resolution, and keep it on disk.

:func:`load_data` checks the CSVs (:mod:`mmtune.data.contract`), hashes every picture
file's bytes (:mod:`mmtune.data.picture_hash`), then looks for the cache under that content
key (:mod:`mmtune.data.cache_file`). On a miss it decodes every picture
(:mod:`mmtune.data.picture_decode`; over processes: :mod:`mmtune.data.decode_pool`; with a
progress bar: :mod:`mmtune.data.progress_bar`), collects every picture problem, and writes
the pictures straight into the cache file; where no cache can be written, into memory, with
a warning. On a hit only the CSVs are checked again: the picture problems found at build
time are stored in the metadata (decision 6). Neither a build nor a load holds every picture
in memory: the pictures are read from the file a batch at a time
(:mod:`mmtune.data.picture_file`). The data's statistics: :mod:`mmtune.data.data_summary`.

>>> data = load_data("data/", resolution=64)        # doctest: +SKIP
>>> data.train_images.shape, data.train_images.dtype  # doctest: +SKIP
((13802, 64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmtune.data.cache_file import (
    FORMAT_VERSION,
    CacheMeta,
    Store,
    cache_key,
    read_cache,
    write_cache,
)
from mmtune.data.data_summary import data_summary
from mmtune.data.decode_pool import decode_all
from mmtune.data.picture_decode import (
    MAX_PICTURE_BYTES,
    MAX_PICTURE_PIXELS,
    PictureInfo,
    mode_words,
)
from mmtune.data.picture_file import PictureRows, Pictures
from mmtune.data.picture_hash import data_hash as content_hash
from mmtune.data.picture_hash import fingerprints
from mmtune.data.progress_bar import ProgressBar
from mmtune.errors import DataError, MmtuneError, Problem, shown

if TYPE_CHECKING:
    from mmtune.data.contract import DataSpec, Tables

__all__ = [
    "load_data",
    "CachedData",
    "FORMAT_VERSION",
    "MIN_RESOLUTION",
    "MAX_RESOLUTION",
    "MAX_PICTURE_BYTES",
    "MAX_PICTURE_PIXELS",
]

MIN_RESOLUTION = 8
MAX_RESOLUTION = 1024


@dataclass(frozen=True)
class CachedData:
    """A checked data set with its pictures decoded at ``resolution``.

    Pictures are ``uint8 (N, R, R, 3)`` (read from the cache file as they are indexed:
    :class:`~mmtune.data.picture_file.PictureRows`), MFCCs ``float32 (N, K)``, labels
    ``int32 (N,)``; rows in file order. ``data_hash`` identifies the data's
    content (CSV bytes and picture bytes), whatever the resolution.
    """

    spec: DataSpec
    resolution: int
    data_dir: Path
    data_hash: str
    train_images: Pictures
    train_mfcc: np.ndarray
    train_labels: np.ndarray
    test_images: Pictures
    test_mfcc: np.ndarray
    warnings: list[Problem] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def load_data(
    data_dir: str | os.PathLike[str],
    resolution: int = 64,
    *,
    strict: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    workers: int | None = None,
) -> CachedData:
    """Check ``data_dir`` and return its data with pictures at ``resolution``.

    Args:
        data_dir: a directory in the competition's layout.
        resolution: side of the square pictures the model takes.
        strict: refuse pictures whose size differs from the most common one
            (otherwise they are resized, with a warning).
        cache_dir: where caches live (default ``cache_root() / "pictures"``).
        progress: show a progress bar on stderr; ``None``: when stderr is a terminal.
        workers: decoding processes; ``None``: every core (one for small sets).

    Raises:
        DataError: listing every problem in the CSVs or the pictures.
    """
    from mmtune.data.contract import read_tables
    from mmtune.locations import cache_root

    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, (int, np.integer))
        or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION
    ):
        raise MmtuneError(
            f"Expected a resolution between {MIN_RESOLUTION} and {MAX_RESOLUTION} "
            f"pixels. Received: {shown(resolution)}"
        )
    resolution = int(resolution)
    tables = read_tables(data_dir)
    names = list(tables.train_images) + list(tables.test_images)
    paths = [str(tables.image_path(n)) for n in names]
    data_hash = content_hash(tables, fingerprints(tables, names, paths))
    key = cache_key(resolution, data_hash)
    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "pictures"
    target = folder / f"{key}.npy"

    cached = read_cache(target, key, len(paths), resolution)
    hit = cached is not None
    if cached is None:
        pictures, meta = _build_cache(
            target, key, data_hash, tables, names, paths, resolution, progress, workers, strict
        )
    else:
        pictures, meta = cached

    problems = [_as_used(p, strict) for p in meta.problems]
    if any(p.severity == "error" for p in problems):
        raise DataError(list(tables.warnings) + problems, str(tables.data_dir))
    warnings = list(tables.warnings) + problems
    height, width = meta.image_size
    spec = replace(tables.spec, image_size=(height, width))
    n_train = len(tables.train_images)
    data = CachedData(
        spec=spec,
        resolution=resolution,
        data_dir=tables.data_dir,
        data_hash=data_hash,
        train_images=pictures[:n_train],
        train_mfcc=tables.train_mfcc,
        train_labels=tables.train_labels,
        test_images=pictures[n_train:],
        test_mfcc=tables.test_mfcc,
        warnings=warnings,
    )
    data.summary.update(data_summary(data, meta, target, hit))
    return data


# ---------------------------------------------------------------- the build


def _build_cache(
    target: Path,
    key: str,
    data_hash: str,
    tables: Tables,
    names: Sequence[str],
    paths: Sequence[str],
    resolution: int,
    progress: bool | None,
    workers: int | None,
    strict: bool,
) -> tuple[PictureRows | np.ndarray, CacheMeta]:
    """Decode every picture straight into the cache file (never the whole array in memory);
    where that file cannot be written, into memory, with a warning."""
    started = time.perf_counter()
    shape = (len(paths), resolution, resolution, 3)

    def build(store: Store) -> CacheMeta:
        meta = _build(tables, names, paths, resolution, progress, workers, store)
        _refuse_failed_build(meta, data_hash, tables, strict)
        return meta

    try:
        return write_cache(target, key, shape, build, started)
    except (DataError, _DataChanged):
        raise
    except (OSError, MmtuneError) as exc:  # a read-only or full disk costs memory, not the run
        why = getattr(exc, "strerror", None) or exc
        print(
            f"mmtune: warning: could not write the picture cache {target} ({why}); "
            "decoding the pictures into memory instead (this run only: set "
            "$MMTUNE_CACHE_DIR to a folder mmtune can write to keep them)",
            file=sys.stderr,
        )
    pictures = np.zeros(shape, dtype=np.uint8)

    def to_memory(start: int, chunk: np.ndarray) -> None:
        pictures[start : start + len(chunk)] = chunk

    meta = build(to_memory)
    meta.key, meta.build_seconds = key, round(time.perf_counter() - started, 3)
    return pictures, meta


class _DataChanged(MmtuneError):
    """The pictures' bytes changed between hashing and decoding them."""


def _refuse_failed_build(meta: CacheMeta, data_hash: str, tables: Tables, strict: bool) -> None:
    """Raise when the build found a picture that cannot be used, or other bytes than hashed:
    nothing worth caching."""
    if any(p.severity == "error" for p in meta.problems):
        raise DataError(
            list(tables.warnings) + [_as_used(p, strict) for p in meta.problems],
            str(tables.data_dir),
        )
    if meta.data_hash != data_hash:
        raise _DataChanged(
            f"pictures in {tables.data_dir} changed while mmtune read them; "
            "run the command again once nothing writes there"
        )


def _as_used(problem: Problem, strict: bool) -> Problem:
    """A picture's problem as this run takes it: under ``strict``, a picture of another size
    is an error, not a warning."""
    return replace(problem, severity="error") if strict and problem.kind == "size" else problem


def _build(
    tables: Tables,
    names: Sequence[str],
    paths: Sequence[str],
    resolution: int,
    progress: bool | None,
    workers: int | None,
    store: Store,
) -> CacheMeta:
    """Decode every picture, handing each decoded chunk of rows to ``store(first row,
    pictures)``; return the metadata, every picture's problem in it."""
    n = len(paths)
    infos: list[PictureInfo] = [{}] * n
    bar = ProgressBar(n, sys.stderr.isatty() if progress is None else progress)
    for start, chunk, chunk_infos in decode_all(paths, resolution, workers):
        store(start, chunk)
        infos[start : start + len(chunk_infos)] = chunk_infos
        bar.advance(len(chunk_infos))
    bar.close()

    sizes = Counter(tuple(i["size"]) for i in infos if i.get("size"))
    common = sizes.most_common(1)[0][0] if sizes else (resolution, resolution)
    problems: list[Problem] = []
    for index, (name, info) in enumerate(zip(names, infos)):
        csv_name, row = tables.picture_row(index)

        def problem(kind: str, severity: str, message: str) -> Problem:
            return Problem(csv_name, message, row, "IMAGE", severity, kind)  # noqa: B023

        if info.get("error"):
            problems.append(
                problem("decode", "error", f"the picture file {shown(name)} {info['error']}")
            )
            continue
        if tuple(info["size"]) != common:
            h, w = info["size"]
            problems.append(
                problem(
                    "size",
                    "warning",
                    f"Expected a picture of {common[1]}x{common[0]} pixels "
                    f"(the most common size). Received: {shown(name)} of {w}x{h}; "
                    f"resized to {resolution}x{resolution} (refused under --strict)",
                )
            )
        if info["mode"] != "RGB":
            problems.append(
                problem(
                    "mode",
                    "warning",
                    f"the picture {shown(name)} is {mode_words(info['mode'])}; converted to RGB",
                )
            )
    return CacheMeta(
        resolution=resolution,
        rows=n,
        data_hash=content_hash(tables, [info.get("sha256", "") for info in infos]),
        image_size=list(common),
        sizes={f"{w}x{h}": k for (h, w), k in sizes.most_common()},
        modes=dict(Counter(i["mode"] for i in infos if i.get("mode")).most_common()),
        problems=problems,
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
