"""Decode every picture once, at the model's resolution, and keep it on disk.

:func:`load_data` checks the CSVs (:mod:`mmtune.data.contract`), hashes every
picture file's bytes (sha256; 0.19 s for 1,000 PNGs of 256x256, 148 MB, against
2.65 s to decode them, on a shared 2-core CPU: ``benchmarks/cache_key.py``),
then looks for a cache keyed by the content: format version, resolution, both
CSVs' bytes and every picture's bytes. What a hit trusts is only that a cache
file under that key was written by mmtune from exactly those bytes (the key is
a sha256 of them; a CRC-32 of the pictures' bytes catches a damaged file): a picture
replaced by other pixels, whatever its size and modification time, is a miss.
A file larger than :data:`MAX_PICTURE_BYTES` is refused from its size alone,
never read. On a miss it decodes every picture in parallel, area-resizes it to ``R x R`` (Pillow's
box filter: on 256 -> 64 exactly the seed's ``AveragePooling2D((4, 4))``, up to
uint8 rounding), collects every picture problem, and writes the pictures straight
into ``<key>.npy`` under a temporary name, renamed when whole, then the metadata
(key, CRC-32, problems) as ``<key>.json``. On a hit only the CSVs are checked
again: the picture problems found at build time are stored in the metadata
(decision 6). Neither a build nor a load holds every picture in memory: the
pictures are read from the file a batch at a time (:mod:`mmtune.data.picture_file`).

A cache file that cannot be read whole (a crash mid-write, a truncated or
damaged file) is ignored and rebuilt; it never breaks a run.

>>> data = load_data("data/", resolution=64)        # doctest: +SKIP
>>> data.train_images.shape, data.train_images.dtype  # doctest: +SKIP
((13802, 64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from mmtune.atomic import atomic_path, atomic_write_text
from mmtune.data.picture_file import PictureRows, Pictures, file_crc32, write_npy_header
from mmtune.errors import DataError, MmtuneError, Problem, shown
from mmtune.file_kinds import NotAFile, open_regular

if TYPE_CHECKING:
    from PIL import Image

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

FORMAT_VERSION = 3  # 2: keyed by the pictures' bytes; 16-bit scaled; 3: .npy read by rows + .json
MIN_RESOLUTION = 8
MAX_RESOLUTION = 1024
MAX_PICTURE_BYTES = 64 * 2**20  # the competition's pictures are about 0.2 MB
MAX_PICTURE_PIXELS = 64_000_000  # 8000 x 8000
_STALE_TEMP_SECONDS = 3600
_HASH_CHUNK = 1 << 20


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
    digests = _fingerprints(tables, names, paths)
    data_hash = _data_hash(tables, digests)
    key = hashlib.sha256(
        f"mmtune-pictures v{FORMAT_VERSION}\nresolution {resolution}\n{data_hash}\n".encode()
    ).hexdigest()
    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "pictures"
    target = folder / f"{key}.npy"

    cached = _read_cache(target, key, len(paths), resolution)
    hit = cached is not None
    if cached is None:
        pictures, meta = _build_cache(
            target, key, data_hash, tables, names, paths, resolution, progress, workers, strict
        )
    else:
        pictures, meta = cached

    problems = [_problem(d, strict) for d in meta["problems"]]
    if any(p.severity == "error" for p in problems):
        raise DataError(list(tables.warnings) + problems, str(tables.data_dir))
    warnings = list(tables.warnings) + problems
    spec = replace(tables.spec, image_size=tuple(meta["image_size"]))
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
    data.summary.update(_summary(data, meta, target, hit))
    return data


# ---------------------------------------------------------------- cache files


def _fingerprints(tables: Tables, names: Sequence[str], paths: Sequence[str]) -> list[str]:
    """The sha256 of every picture file's bytes, in row order.

    A file over :data:`MAX_PICTURE_BYTES` is refused from its size, without reading it; a
    file that cannot be read is refused too: both raise :class:`DataError` with the row.
    """
    digests: list[str] = []
    problems: list[Problem] = []
    for index, (name, path) in enumerate(zip(names, paths)):
        digest, error = _file_sha256(path)
        digests.append(digest)
        if error:
            csv_name, row = _where(tables, index)
            problems.append(
                Problem(
                    csv_name, f"the picture file {shown(name)} {error}", row=row, column="IMAGE"
                )
            )
    if problems:
        raise DataError(list(tables.warnings) + problems, str(tables.data_dir))
    return digests


def _file_sha256(path: str) -> tuple[str, str]:
    """``(sha256 hex digest, "")``, or ``("", why not)`` for a file too big or unreadable."""
    h = hashlib.sha256()
    try:
        with open_regular(path, follow=False) as fh:  # never a FIFO's endless wait
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_PICTURE_BYTES:
                return "", (
                    f"is {size / 2**20:,.0f} MB. Expected a picture file of at most "
                    f"{MAX_PICTURE_BYTES // 2**20} MB (it was not read)"
                )
            while chunk := fh.read(_HASH_CHUNK):
                h.update(chunk)
    except NotAFile as exc:
        return "", f"is {exc}"
    except OSError as exc:
        return "", f"cannot be read ({exc.strerror or exc})"
    return h.hexdigest(), ""


def _where(tables: Tables, index: int) -> tuple[str, int]:
    """``(csv file, row)`` of the ``index``-th picture (training rows first, then test rows)."""
    from mmtune.data.contract import TEST_CSV, TRAIN_CSV

    n_train = len(tables.train_images)
    return (TRAIN_CSV, index) if index < n_train else (TEST_CSV, index - n_train)


def _data_hash(tables: Tables, digests: Sequence[str]) -> str:
    """The data's content hash: both CSVs' bytes and every picture's bytes, in row order."""
    content = hashlib.sha256(b"mmtune-data\n")
    for csv_name in sorted(tables.csv_sha256):
        content.update(f"{csv_name} {tables.csv_sha256[csv_name]}\n".encode())
    for digest in digests:
        content.update(f"{digest}\n".encode())
    return content.hexdigest()


def _read_cache(
    target: Path, key: str, rows: int, resolution: int
) -> tuple[PictureRows, dict[str, Any]] | None:
    """The cached pictures (read from the file as needed) and metadata, or ``None`` when
    absent or not whole: the metadata names the key and the pictures' CRC-32, which the
    file's bytes must match (a crash mid-write or a damaged file is a miss, never an error)."""
    try:
        meta = json.loads(target.with_suffix(".json").read_text(encoding="utf-8"))
        if (
            not isinstance(meta, dict)
            or meta.get("format") != FORMAT_VERSION
            or meta.get("key") != key
        ):
            return None
        pictures = PictureRows.open(target)
        if pictures.shape != (rows, resolution, resolution, 3):
            return None
        if file_crc32(pictures.fileno(), pictures.offset, pictures.nbytes) != meta.get(
            "pictures_crc32"
        ):
            return None
    except (OSError, ValueError):
        return None
    return pictures, meta


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
) -> tuple[PictureRows | np.ndarray, dict[str, Any]]:
    """Decode every picture straight into the cache file (never the whole array in memory);
    where that file cannot be written, into memory, with a warning."""
    started = time.perf_counter()
    shape = (len(paths), resolution, resolution, 3)
    try:
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

            meta = _build(tables, names, paths, resolution, progress, workers, to_file)
            _refuse_failed_build(meta, data_hash, tables, strict)
            fh.flush()
            meta["pictures_crc32"] = file_crc32(fh.fileno(), offset, int(np.prod(shape)))
        meta.update(key=key, build_seconds=round(time.perf_counter() - started, 3))
        atomic_write_text(target.with_suffix(".json"), json.dumps(meta, indent=1, sort_keys=True))
        return PictureRows.open(target), meta
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

    meta = _build(tables, names, paths, resolution, progress, workers, to_memory)
    _refuse_failed_build(meta, data_hash, tables, strict)
    meta.update(key=key, build_seconds=round(time.perf_counter() - started, 3))
    return pictures, meta


class _DataChanged(MmtuneError):
    """The pictures' bytes changed between hashing and decoding them."""


def _refuse_failed_build(
    meta: dict[str, Any], data_hash: str, tables: Tables, strict: bool
) -> None:
    """Raise when the build found a picture that cannot be used, or other bytes than hashed:
    nothing worth caching."""
    if any(d["severity"] == "error" for d in meta["problems"]):
        raise DataError(
            list(tables.warnings) + [_problem(d, strict) for d in meta["problems"]],
            str(tables.data_dir),
        )
    if meta["data_hash"] != data_hash:
        raise _DataChanged(
            f"pictures in {tables.data_dir} changed while mmtune read them; "
            "run the command again once nothing writes there"
        )


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


# ---------------------------------------------------------------- the build


def _build(
    tables: Tables,
    names: Sequence[str],
    paths: Sequence[str],
    resolution: int,
    progress: bool | None,
    workers: int | None,
    store: Callable[[int, np.ndarray], None],
) -> dict[str, Any]:
    """Decode every picture, handing each decoded chunk of rows to ``store(first row,
    pictures)``; return the metadata (problems included)."""
    n = len(paths)
    infos: list[PictureInfo] = [{}] * n
    bar = _Progress(n, sys.stderr.isatty() if progress is None else progress)
    for start, chunk, chunk_infos in _decode_all(paths, resolution, workers):
        store(start, chunk)
        infos[start : start + len(chunk_infos)] = chunk_infos
        bar.advance(len(chunk_infos))
    bar.close()

    sizes = Counter(tuple(i["size"]) for i in infos if i.get("size"))
    common = sizes.most_common(1)[0][0] if sizes else (resolution, resolution)
    problems: list[dict[str, Any]] = []
    for index, (name, info) in enumerate(zip(names, infos)):
        csv_name, row = _where(tables, index)
        where = {"file": csv_name, "row": row, "column": "IMAGE"}
        if info.get("error"):
            problems.append(
                {
                    **where,
                    "kind": "decode",
                    "severity": "error",
                    "message": f"the picture file {shown(name)} {info['error']}",
                }
            )
            continue
        if tuple(info["size"]) != common:
            h, w = info["size"]
            problems.append(
                {
                    **where,
                    "kind": "size",
                    "severity": "warning",
                    "message": f"Expected a picture of {common[1]}x{common[0]} pixels "
                    f"(the most common size). Received: {shown(name)} of {w}x{h}; "
                    f"resized to {resolution}x{resolution} (refused under --strict)",
                }
            )
        if info["mode"] != "RGB":
            problems.append(
                {
                    **where,
                    "kind": "mode",
                    "severity": "warning",
                    "message": f"the picture {shown(name)} is "
                    f"{_MODE_WORDS.get(info['mode'], 'mode ' + info['mode'])}; "
                    "converted to RGB",
                }
            )

    meta = {
        "format": FORMAT_VERSION,
        "resolution": resolution,
        "rows": n,
        "data_hash": _data_hash(tables, [info.get("sha256", "") for info in infos]),
        "image_size": list(common),
        "sizes": {f"{w}x{h}": k for (h, w), k in sizes.most_common()},
        "modes": dict(Counter(i["mode"] for i in infos if i.get("mode")).most_common()),
        "problems": problems,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return meta


_MODE_WORDS = {
    "L": "grayscale (mode L)",
    "LA": "grayscale with alpha (mode LA)",
    "RGBA": "RGBA (alpha dropped)",
    "P": "a palette picture (mode P)",
    "1": "black and white (mode 1)",
    "CMYK": "CMYK",
    "I;16": "16-bit grayscale (scaled to 8 bits)",
    "I;16B": "16-bit grayscale (scaled to 8 bits)",
    "I;16L": "16-bit grayscale (scaled to 8 bits)",
    "I;16N": "16-bit grayscale (scaled to 8 bits)",
    "I": "integer grayscale (read as 16-bit, scaled to 8 bits)",
}
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _problem(d: dict[str, Any], strict: bool) -> Problem:
    severity = "error" if strict and d["kind"] == "size" else d["severity"]
    return Problem(d["file"], d["message"], d["row"], d["column"], severity)


def _decode_all(paths: Sequence[str], resolution: int, workers: int | None):
    """Yield ``(start, pictures, infos)`` chunks, decoded in parallel when worth it."""
    n = len(paths)
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    if workers is None:
        workers = cores if n >= 256 else 1
    workers = max(1, min(int(workers), n))
    chunk = max(8, min(256, -(-n // (workers * 8)))) if n else 1
    starts = range(0, n, chunk)
    if workers == 1:
        for start in starts:
            yield (start, *_decode_chunk(list(paths[start : start + chunk]), resolution))
        return

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # forkserver: safe when the caller has TensorFlow's threads running (fork is not).
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context(method)
    ) as pool:
        futures = {
            pool.submit(_decode_chunk, list(paths[s : s + chunk]), resolution): s for s in starts
        }
        for future in as_completed(futures):
            # popped, so that a chunk's pictures are freed once stored: kept in the dict,
            # every decoded chunk stayed alive until the build's end (the whole array again)
            yield (futures.pop(future), *future.result())
            del future


class PictureInfo(TypedDict, total=False):
    """What decoding one picture file found: its bytes' hash, its size ``[height, width]``
    and Pillow mode, or why it could not be used."""

    sha256: str
    size: list[int]
    mode: str
    error: str


def _decode_chunk(paths: list[str], resolution: int) -> tuple[np.ndarray, list[PictureInfo]]:
    """Decode ``paths`` to ``uint8 (n, R, R, 3)``; runs in a worker process."""
    out = np.zeros((len(paths), resolution, resolution, 3), dtype=np.uint8)
    infos = []
    for i, path in enumerate(paths):
        info, pixels = _decode_one(path, resolution)
        if pixels is not None:
            out[i] = pixels
        infos.append(info)
    return out, infos


def _decode_one(path: str, resolution: int) -> tuple[PictureInfo, np.ndarray | None]:
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        # Not a symbolic link (the contract resolved every picture inside the data directory:
        # a link swapped in since is not followed), and a regular file, opened without
        # blocking (a FIFO swapped in is refused, never waited on).
        with open_regular(path, follow=False) as fh:
            raw = fh.read(MAX_PICTURE_BYTES + 1)  # never more than the limit, whatever the file
    except NotAFile as exc:
        return {"error": f"is {exc}"}, None
    except OSError as exc:
        return {"error": f"cannot be read ({exc.strerror or exc})"}, None
    info: PictureInfo = {"sha256": hashlib.sha256(raw).hexdigest()}
    if len(raw) > MAX_PICTURE_BYTES:
        return {**info, "error": f"is over {MAX_PICTURE_BYTES // 2**20} MB"}, None
    if not raw:
        return {**info, "error": "is empty (0 bytes)"}, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))  # lazy: reads the header only
        with img:
            if img.width * img.height > MAX_PICTURE_PIXELS:
                return {
                    **info,
                    "error": f"is {img.width}x{img.height} pixels. Expected at most "
                    f"{MAX_PICTURE_PIXELS / 1e6:g} megapixels",
                }, None
            img.load()
            info.update({"size": [img.height, img.width], "mode": img.mode})
            rgb = _to_rgb(img)
            w, h = rgb.size
            if (w, h) == (resolution, resolution):
                small = rgb
            elif w % resolution == 0 and h % resolution == 0:
                small = rgb.reduce((w // resolution, h // resolution))  # exact box mean
            else:
                small = rgb.resize((resolution, resolution), Image.Resampling.BOX)
            pixels = np.asarray(small, dtype=np.uint8)
    except UnidentifiedImageError:
        return {**info, "error": "is not a picture Pillow can read"}, None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return {
            **info,
            "error": f"is too large to decode ({shown(str(exc), 120)}). Expected at "
            f"most {MAX_PICTURE_PIXELS / 1e6:g} megapixels",
        }, None
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason.lower():
            reason = "the file is truncated"
        return {**info, "error": f"cannot be decoded ({shown(reason, 200)})"}, None
    return info, pixels


def _to_rgb(img: Image.Image) -> Image.Image:
    """``img`` as 8-bit RGB; 16-bit grayscale is scaled (65535 -> 255), not clipped at 255."""
    from PIL import Image

    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT:
        wide = np.asarray(img).astype(np.float32)
        return Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)).convert(
            "RGB"
        )
    return img.convert("RGB")


class _Progress:
    """A one-line progress bar on stderr (nothing when disabled)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled and total > 0
        self.started = self.last = time.perf_counter()

    def advance(self, k: int) -> None:
        self.done += k
        now = time.perf_counter()
        if self.enabled and (now - self.last > 0.1 or self.done >= self.total):
            self.last = now
            frac = self.done / self.total
            bar = "#" * int(30 * frac)
            rate = self.done / max(now - self.started, 1e-9)
            sys.stderr.write(
                f"\rdecoding pictures [{bar:<30}] {self.done}/{self.total} ({rate:,.0f}/s)"
            )
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# ---------------------------------------------------------------- the summary


def _summary(data: CachedData, meta: dict[str, Any], target: Path, hit: bool) -> dict[str, Any]:
    from mmtune.data.contract import TEST_CSV, TRAIN_CSV

    counts = np.bincount(data.train_labels, minlength=data.spec.n_classes)
    mfcc = np.concatenate([data.train_mfcc, data.test_mfcc]).astype(np.float64)  # no overflow
    return {
        "data_dir": str(data.data_dir),
        "rows": {TRAIN_CSV: int(len(data.train_labels)), TEST_CSV: int(len(data.test_mfcc))},
        "classes": [
            {"index": i, "name": name, "rows": int(counts[i])}
            for i, name in enumerate(data.spec.class_names)
        ],
        "picture_sizes": dict(meta["sizes"]),
        "picture_modes": dict(meta["modes"]),
        "image_size": list(meta["image_size"]),
        "mfcc": {
            "columns": data.spec.n_mfcc,
            "names": f"{data.spec.mfcc_columns[0]} .. {data.spec.mfcc_columns[-1]}",
            "min": float(mfcc.min()),
            "max": float(mfcc.max()),
            "mean": float(mfcc.mean()),
            "std": float(mfcc.std()),
            "column_min_range": [float(mfcc.min(axis=0).min()), float(mfcc.min(axis=0).max())],
            "column_max_range": [float(mfcc.max(axis=0).min()), float(mfcc.max(axis=0).max())],
        },
        "resolution": data.resolution,
        "data_hash": data.data_hash,
        "cache": {
            "path": str(target),
            "hit": hit,
            "in_memory": isinstance(data.train_images, np.ndarray),
            "bytes": target.stat().st_size if target.is_file() else None,
            "build_seconds": meta.get("build_seconds"),
        },
        "warnings": len(data.warnings),
    }
