"""The data contract: read the two CSVs of a data directory and check them.

The competition's layout::

    DATA_DIR/
      data_train.csv      IMAGE, mfcc_1 .. mfcc_K, CLASS   (CLASS: int 0..C-1)
      data_test_novt.csv  IMAGE, mfcc_1 .. mfcc_K           (no CLASS)
      class_names.txt     optional, one class name per line (line i names class i)
      <IMAGE files>       paths relative to DATA_DIR

K, C and the picture size come from the data. Every IMAGE must lead, after
symbolic links, to a file inside DATA_DIR: an absolute path, a ``..`` that climbs
out or a link that points outside is refused (without looking at what lies
outside, so a message never tells whether a file exists there). This module checks everything a
CSV can say (the pictures themselves are decoded and checked by
:mod:`mmtune.data.cache`), collects every problem, and raises one
:class:`~mmtune.errors.DataError` naming file, row and column of each. Rows are
never dropped nor reordered. No TensorFlow here.

>>> tables = read_tables("data/")                    # doctest: +SKIP
>>> tables.spec.n_mfcc, tables.spec.class_names      # doctest: +SKIP
(104, ('FOREST', 'CITY', ...))
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmtune.errors import DataError, Problem, shown
from mmtune.file_kinds import NotAFile, describe, is_regular, open_regular, read_at_most

__all__ = [
    "read_tables",
    "Tables",
    "DataSpec",
    "TRAIN_CSV",
    "TEST_CSV",
    "CLASS_NAMES_FILE",
    "MAX_CLASSES",
    "MAX_COLUMNS",
    "MAX_MFCC_MAGNITUDE",
]

TRAIN_CSV = "data_train.csv"
TEST_CSV = "data_test_novt.csv"
CLASS_NAMES_FILE = "class_names.txt"
IMAGE = "IMAGE"
CLASS = "CLASS"
MAX_CLASSES = 10_000  # a class index from one cell never allocates more than this
MAX_MFCC_MAGNITUDE = 1e18  # squares stay finite in float32 (the model's standardization)
MAX_COLUMNS = 10_000  # the header's width, checked before the rest of the file is parsed
MAX_CSV_BYTES = 2**30  # the competition's training CSV is 14 MB; refused unread above this
_MAX_CLASS_NAMES_BYTES = 1 << 20
_MAX_PATH_CHARS = 4096


@dataclass(frozen=True)
class DataSpec:
    """What the data says about the model's inputs and outputs.

    ``image_size`` is the pictures' most common ``(height, width)``; it is
    ``None`` until the pictures have been looked at (:func:`mmtune.data.cache.load_data`
    fills it in).
    """

    mfcc_columns: tuple[str, ...]
    class_names: tuple[str, ...]
    image_size: tuple[int, int] | None = None

    @property
    def n_mfcc(self) -> int:
        return len(self.mfcc_columns)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class Tables:
    """The two CSVs, checked, as arrays in file order.

    ``train_images`` / ``test_images`` are the IMAGE values as written (paths
    relative to ``data_dir``); ``picture_paths`` maps each to the checked file it
    leads to (inside ``data_dir``). ``csv_sha256`` maps each CSV's file name to the
    sha256 of its bytes.
    """

    data_dir: Path
    spec: DataSpec
    train_images: tuple[str, ...]
    train_mfcc: np.ndarray  # float32 (N, K)
    train_labels: np.ndarray  # int32 (N,)
    test_images: tuple[str, ...]
    test_mfcc: np.ndarray  # float32 (M, K)
    csv_sha256: dict[str, str] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()
    picture_paths: dict[str, Path] = field(default_factory=dict)

    def image_path(self, name: str) -> Path:
        """The file an IMAGE value leads to (symbolic links resolved, inside ``data_dir``)."""
        return self.picture_paths[name]

    def picture_row(self, index: int) -> tuple[str, int]:
        """``(CSV file, row)`` of the ``index``-th picture: training rows first, then test rows."""
        n_train = len(self.train_images)
        return (TRAIN_CSV, index) if index < n_train else (TEST_CSV, index - n_train)


def read_tables(data_dir: str | os.PathLike[str]) -> Tables:
    """Read and check ``data_train.csv`` and ``data_test_novt.csv`` in ``data_dir``.

    Raises :class:`DataError` listing every error-severity problem; warnings
    (a CLASS column in the test CSV, ...) come back in ``Tables.warnings``.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(
            [
                Problem(
                    str(data_dir),
                    "Expected a data directory. Received: "
                    + ("a file" if data_dir.exists() else "a path that does not exist"),
                )
            ],
            str(data_dir),
        )
    problems: list[Problem] = []
    digests: dict[str, str] = {}
    train = _read_csv(data_dir, TRAIN_CSV, problems, digests)
    test = _read_csv(data_dir, TEST_CSV, problems, digests)

    train_cols = test_cols = None
    if train is not None:
        train_cols = _mfcc_columns(train, TRAIN_CSV, problems, is_test=False)
    if test is not None:
        test_cols = _mfcc_columns(test, TEST_CSV, problems, is_test=True)
    if train_cols is not None and test_cols is not None and train_cols != test_cols:
        if set(train_cols) == set(test_cols):
            problems.append(
                Problem(
                    TEST_CSV,
                    "the MFCC columns are in a different order than in "
                    f"{TRAIN_CSV}; they are matched by name",
                    severity="warning",
                )
            )
        else:
            missing = [c for c in train_cols if c not in test_cols]
            extra = [c for c in test_cols if c not in train_cols]
            msg = f"Expected the same MFCC columns as {TRAIN_CSV} ({len(train_cols)} columns)."
            if missing:
                msg += f" Missing: {_names(missing)}."
            if extra:
                msg += f" Unexpected: {_names(extra)}."
            problems.append(Problem(TEST_CSV, msg))
            test_cols = None  # cannot be aligned

    train_mfcc = test_mfcc = None
    labels = None
    class_names: tuple[str, ...] = ()
    if train is not None and train_cols is not None:
        train_mfcc = _mfcc_values(train, train_cols, TRAIN_CSV, problems)
        labels = _labels(train, problems)
        class_names = _class_names(data_dir, labels, problems)
    if test is not None and test_cols is not None and train_cols is not None:
        test_mfcc = _mfcc_values(test, train_cols, TEST_CSV, problems)

    picture_paths: dict[str, Path] = {}
    train_images = _images(train, TRAIN_CSV, data_dir, problems, picture_paths)
    test_images = _images(test, TEST_CSV, data_dir, problems, picture_paths)
    if train_images and test_images:
        shared = sorted(set(train_images) & set(test_images))
        if shared:
            problems.append(
                Problem(
                    TEST_CSV,
                    f"{len(shared)} picture(s) also appear in {TRAIN_CSV} (first: {shared[0]!r})",
                    column=IMAGE,
                    severity="warning",
                )
            )

    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DataError(problems, str(data_dir))
    assert train_mfcc is not None and test_mfcc is not None and labels is not None
    assert train_cols is not None
    return Tables(
        data_dir=data_dir,
        spec=DataSpec(mfcc_columns=tuple(train_cols), class_names=class_names),
        train_images=tuple(train_images),
        train_mfcc=train_mfcc,
        train_labels=labels.astype(np.int32),
        test_images=tuple(test_images),
        test_mfcc=test_mfcc,
        csv_sha256=digests,
        warnings=tuple(problems),
        picture_paths=picture_paths,
    )


def _names(cols: list[str], limit: int = 5) -> str:
    shown = ", ".join(cols[:limit])
    return shown + (f" and {len(cols) - limit} more" if len(cols) > limit else "")


@dataclass(frozen=True)
class _Csv:
    """One CSV's cells as text: row-major, in the order the rows were read (a column-major
    copy would make the text-to-float pass twice as slow, its strings read out of order)."""

    columns: tuple[str, ...]
    cells: np.ndarray  # (rows, columns), dtype object: every cell a str

    def __len__(self) -> int:
        return len(self.cells)

    def block(self, names: list[str]) -> np.ndarray:
        """The named columns, in that order, still row-major (``take``: an index list on the
        second axis, ``cells[:, idx]``, comes back column-major)."""
        return np.take(self.cells, [self.columns.index(n) for n in names], axis=1)

    def column(self, name: str) -> np.ndarray:
        return self.cells[:, self.columns.index(name)]


def _read_csv(
    data_dir: Path, name: str, problems: list[Problem], digests: dict[str, str]
) -> _Csv | None:
    """Read one CSV with every cell as text (so that nothing is parsed silently), parsed once
    by the ``csv`` module: the header alone first (a 100,000-column line is refused before the
    rows are read), then the rows, each checked against the header's width. Blank lines are
    skipped, as pandas skips them; a row with more fields than the header is reported (pandas
    took a whole column of them for the index, silently shifting every column)."""
    path = data_dir / name
    try:
        with open_regular(path) as fh:  # a FIFO or a device is never waited on
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_CSV_BYTES:
                problems.append(
                    Problem(
                        name,
                        f"Expected a CSV of at most {MAX_CSV_BYTES // 2**20:,} MB. Received: "
                        f"{size / 2**20:,.0f} MB (it was not read)",
                    )
                )
                return None
            raw = read_at_most(fh, MAX_CSV_BYTES)
    except NotAFile as exc:
        problems.append(Problem(name, f"Expected a CSV file. Received: {exc.kind} at {path}"))
        return None
    except OSError as exc:
        kind = describe(path)
        if kind in ("missing", "a symbolic link to nothing"):
            problems.append(Problem(name, f"the file is missing (expected {path}; {kind})"))
        else:
            problems.append(Problem(name, f"the file cannot be read ({exc.strerror or exc})"))
        return None
    digests[name] = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        problems.append(Problem(name, "the file is empty; expected a header line and data rows"))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(
            Problem(name, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})")
        )
        return None
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    try:
        header = next((r for r in reader if not _blank(r)), [])  # the header before the rest
        if len(header) > MAX_COLUMNS:
            problems.append(
                Problem(
                    name,
                    f"Expected at most {MAX_COLUMNS:,} columns (IMAGE, the MFCC columns, "
                    f"CLASS). Received: {len(header):,} in the header line; the rest of the "
                    "file was not read",
                )
            )
            return None
        rows = [r for r in reader if not _blank(r)]
    except csv.Error as exc:  # a field over 131,072 characters...
        problems.append(
            Problem(
                name,
                f"the file is not a readable CSV at line {reader.line_num}: {shown(str(exc), 200)}",
            )
        )
        return None
    columns = [h.strip() for h in header]
    dupes = sorted(c for c, n in Counter(columns).items() if n > 1)
    if dupes:
        problems.append(
            Problem(name, f"the header names a column more than once: {shown(_names(dupes))}")
        )
        return None
    unnamed = [str(i + 1) for i, c in enumerate(columns) if not c]
    if unnamed:  # a trailing comma, most often
        problems.append(
            Problem(
                name,
                f"Expected a name for every column of the header. Received none for column "
                f"{_names(unnamed)} (of {len(columns)}; a trailing comma?)",
            )
        )
        return None
    if not rows:
        problems.append(Problem(name, "the file has a header but no data rows"))
        return None
    if IMAGE not in columns:
        problems.append(
            Problem(
                name,
                f"Expected a column named {IMAGE}. Received columns: {shown(_names(columns))}",
                column=IMAGE,
            )
        )
        return None
    width = len(columns)
    for row, record in enumerate(rows):
        if len(record) != width:  # reported, then padded with empty cells or cut to the header
            more = len(record) > width
            problems.append(
                Problem(
                    name,
                    f"Expected {width} fields, as the header has. "
                    f"Received {len(record)}: {'more' if more else 'fewer'}",
                    row=row,
                )
            )
            rows[row] = record[:width] if more else record + [""] * (width - len(record))
    cells = np.empty((len(rows), width), dtype=object)
    cells[:] = rows
    return _Csv(tuple(columns), cells)


def _blank(record: list[str]) -> bool:
    """An empty line, or one of spaces only: skipped, as pandas skips blank lines."""
    return not record or (len(record) == 1 and not record[0].strip())


def _mfcc_columns(
    frame: _Csv, name: str, problems: list[Problem], *, is_test: bool
) -> list[str] | None:
    cols = [c for c in frame.columns if c not in (IMAGE, CLASS)]
    if is_test and CLASS in frame.columns:
        problems.append(
            Problem(
                name,
                "the test file has a CLASS column; it is ignored",
                column=CLASS,
                severity="warning",
            )
        )
    if not is_test and CLASS not in frame.columns:
        problems.append(
            Problem(
                name, f"Expected a column named {CLASS} (the label). Received none", column=CLASS
            )
        )
    if not cols:
        problems.append(
            Problem(name, f"Expected MFCC columns between {IMAGE} and {CLASS}. Received none")
        )
        return None
    return cols


def _mfcc_values(frame: _Csv, cols: list[str], name: str, problems: list[Problem]) -> np.ndarray:
    """The MFCC block as float32; every NaN, inf, non-number or absurd magnitude is a problem."""
    text = frame.block(cols)
    values = _numbers(text)
    bad = ~np.isfinite(values)
    for row, col in zip(*np.nonzero(bad)):
        cell = text[row, col]
        if cell.strip() == "" or cell.strip().lower() in ("nan", "na", "null", "none"):
            what = "is empty" if cell.strip() == "" else f"is {shown(cell.strip())}"
            msg = f"Expected a finite number. Received: a value that {what}"
        elif np.isinf(values[row, col]):
            msg = f"Expected a finite number. Received: {shown(cell)}"
        else:
            msg = f"Expected a number. Received: {shown(cell)}"
        problems.append(Problem(name, msg, row=int(row), column=cols[col]))
    huge = np.isfinite(values) & (np.abs(np.where(bad, 0.0, values)) > MAX_MFCC_MAGNITUDE)
    for row, col in zip(*np.nonzero(huge)):
        problems.append(
            Problem(
                name,
                f"Expected a number of magnitude at most "
                f"{MAX_MFCC_MAGNITUDE:g} (MFCCs are tens or hundreds; the model "
                "squares them in float32). Received: "
                f"{shown(text[row, col])}",
                row=int(row),
                column=cols[col],
            )
        )
    return np.where(bad | huge, 0.0, values).astype(np.float32)


def _numbers(cells: np.ndarray) -> np.ndarray:
    """Text cells as float64, NaN where a cell is no number (as ``pd.to_numeric`` with
    ``errors="coerce"`` reads them), in one vectorized pass: 13,802 x 104 cells take 0.1 s
    (a ``to_numeric`` per column took 0.25 s there, and minutes on 100,000 columns).

    The fast path is numpy's conversion of the whole block; Python's float() behind it also
    takes ``1_000`` and non-ASCII digits, which are not numbers in a CSV: a block with an
    underscore or a non-ASCII character, or with a cell no float reads, goes through
    ``pd.to_numeric`` on the flattened cells instead (once, whatever the width).
    """
    if cells.size == 0:
        return np.zeros(cells.shape, dtype=np.float64)
    joined = "".join(cells.ravel().tolist())
    if joined.isascii() and "_" not in joined:
        try:
            return cells.astype(np.float64)
        except ValueError:  # a cell that is no number: found below, each one located
            pass
    flat = pd.to_numeric(pd.Series(cells.ravel(), dtype=object), errors="coerce")
    return flat.to_numpy(dtype=np.float64).reshape(cells.shape)


def _labels(frame: _Csv, problems: list[Problem]) -> np.ndarray:
    """CLASS as integers (``-1`` where unusable, each such row reported)."""
    if CLASS not in frame.columns:
        return np.full(len(frame), -1, dtype=np.int64)
    text = [cell.strip() for cell in frame.column(CLASS)]
    numbers = _numbers(np.array(text, dtype=object))  # the MFCC cells' one rule for numbers
    labels = np.full(len(frame), -1, dtype=np.int64)
    for row, (cell, value) in enumerate(zip(text, numbers)):
        if cell == "":
            problems.append(Problem(TRAIN_CSV, "the label is missing", row=row, column=CLASS))
        elif not np.isfinite(value) or value != np.floor(value):
            problems.append(
                Problem(
                    TRAIN_CSV,
                    f"Expected an integer class index. Received: {shown(cell)}",
                    row=row,
                    column=CLASS,
                )
            )
        elif value < 0:
            problems.append(
                Problem(
                    TRAIN_CSV,
                    f"Expected a class index >= 0. Received: {shown(cell)}",
                    row=row,
                    column=CLASS,
                )
            )
        elif value >= MAX_CLASSES:
            problems.append(
                Problem(
                    TRAIN_CSV,
                    f"Expected a class index below {MAX_CLASSES:,} "
                    f"(classes are numbered 0..C-1). Received: {shown(cell)}",
                    row=row,
                    column=CLASS,
                )
            )
        else:
            labels[row] = int(value)
    return labels


def _class_names(data_dir: Path, labels: np.ndarray, problems: list[Problem]) -> tuple[str, ...]:
    """Names from ``class_names.txt`` when present, else ``"0" .. str(max)``.

    Without the file, the classes are 0..C-1 with C = the largest index + 1, and C may not
    exceed the labelled rows (every class needs rows): one stray cell cannot make a
    billion classes.
    """
    path = data_dir / CLASS_NAMES_FILE
    valid = labels[labels >= 0]
    if os.path.lexists(path):  # a folder, a FIFO or a dangling link there is said, not skipped
        names = _read_class_names(path, problems)
        if names is None:
            return ()
        if not names:
            problems.append(
                Problem(
                    CLASS_NAMES_FILE, "the file names no class; expected one class name per line"
                )
            )
            return ()
        dupes = sorted(n for n, k in Counter(names).items() if k > 1)
        if dupes:
            problems.append(
                Problem(CLASS_NAMES_FILE, f"a class name appears twice: {shown(_names(dupes))}")
            )
        out_of_range = np.nonzero(labels >= len(names))[0]
        for row in out_of_range:
            problems.append(
                Problem(
                    TRAIN_CSV,
                    f"Expected a class index in 0..{len(names) - 1} ({len(names)} classes "
                    f"named in {CLASS_NAMES_FILE}). Received: {labels[row]}",
                    row=int(row),
                    column=CLASS,
                )
            )
    else:
        if valid.size and int(valid.max()) + 1 > len(labels):
            largest = int(np.argmax(labels))
            problems.append(
                Problem(
                    TRAIN_CSV,
                    f"Expected class indices 0..C-1 with C at most the {len(labels):,} "
                    f"labelled rows (every class needs rows). Received: {labels[largest]}, which "
                    f"would make {labels[largest] + 1:,} classes; number the classes from 0 "
                    f"without gaps, or name them in {CLASS_NAMES_FILE}",
                    row=largest,
                    column=CLASS,
                )
            )
            return ()
        names = tuple(str(i) for i in range(int(valid.max()) + 1)) if valid.size else ()
    counts: np.ndarray | list[int] = (
        np.bincount(valid[valid < len(names)], minlength=len(names)) if names else []
    )
    for index, count in enumerate(counts):
        if count == 0:
            problems.append(
                Problem(
                    TRAIN_CSV,
                    f"class {index} ({names[index][:80]}) has no "
                    "rows; every class needs training examples",
                    column=CLASS,
                )
            )
    return names


def _read_class_names(path: Path, problems: list[Problem]) -> tuple[str, ...] | None:
    """The names in ``class_names.txt`` (UTF-8, a byte-order mark allowed), or None if unusable."""
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > _MAX_CLASS_NAMES_BYTES:
                problems.append(
                    Problem(
                        CLASS_NAMES_FILE,
                        f"Expected a file of at most "
                        f"{_MAX_CLASS_NAMES_BYTES // 1024} KB (one name per line). "
                        f"Received: {size:,} bytes",
                    )
                )
                return None
            raw = read_at_most(fh, _MAX_CLASS_NAMES_BYTES)
    except NotAFile as exc:
        problems.append(
            Problem(
                CLASS_NAMES_FILE,
                f"Expected a text file (one class name per line). Received: {exc.kind} at "
                f"{path}; remove it to number the classes 0..C-1",
            )
        )
        return None
    except OSError as exc:
        why = describe(path) if describe(path).startswith("a symbolic link") else None
        problems.append(
            Problem(
                CLASS_NAMES_FILE,
                f"cannot be read ({why or exc.strerror or exc}: {path}); remove it to number "
                "the classes 0..C-1",
            )
        )
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(
            Problem(
                CLASS_NAMES_FILE, f"Expected UTF-8 text. Received: {exc.reason} at byte {exc.start}"
            )
        )
        return None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) > MAX_CLASSES:
        problems.append(
            Problem(
                CLASS_NAMES_FILE,
                f"Expected at most {MAX_CLASSES:,} class names. Received: {len(names):,}",
            )
        )
        return None
    return names


def _images(
    frame: _Csv | None,
    name: str,
    data_dir: Path,
    problems: list[Problem],
    picture_paths: dict[str, Path],
) -> list[str]:
    """The IMAGE column; empty values, duplicates, paths leading outside ``data_dir`` and
    missing files are problems. Each usable value's checked file goes into ``picture_paths``."""
    if frame is None:
        return []
    root = data_dir.resolve()
    images = [cell.strip() for cell in frame.column(IMAGE)]
    first_seen: dict[Path, int] = {}
    for row, image in enumerate(images):
        if image == "":
            problems.append(
                Problem(name, "the picture's file name is empty", row=row, column=IMAGE)
            )
            continue
        path, why = _inside(root, image)
        if path is None:
            problems.append(
                Problem(
                    name,
                    f"Expected a picture path inside the data directory. "
                    f"Received: {shown(image)}, {why}",
                    row=row,
                    column=IMAGE,
                )
            )
            continue
        if path in first_seen:
            problems.append(
                Problem(
                    name,
                    f"the picture {shown(image)} is listed twice (first at row {first_seen[path]})",
                    row=row,
                    column=IMAGE,
                )
            )
            continue
        first_seen[path] = row
        if not is_regular(path):
            kind = describe(path)
            what = (
                f"is missing (expected {shown(str(data_dir / image))})"
                if kind == "missing"
                else f"is {kind}, not a regular file"
            )
            problems.append(
                Problem(name, f"the picture file {shown(image)} {what}", row=row, column=IMAGE)
            )
            continue
        picture_paths[image] = path
    return images


_DRIVE = re.compile(r"[A-Za-z]:[/\\]")  # C:\pictures\x.png, written on Windows


def _inside(root: Path, image: str) -> tuple[Path | None, str]:
    """``(resolved path, "")`` when ``image`` leads inside ``root``, else ``(None, why)``.

    The why never depends on what lies outside ``root`` (whether a file exists there).
    """
    if "\x00" in image or len(image) > _MAX_PATH_CHARS:
        return None, "which is no usable file name"
    if os.path.isabs(image) or image.startswith(("/", "\\")) or _DRIVE.match(image):
        return None, "an absolute path (paths are relative to the data directory)"
    if "/" not in image and os.sep not in image and image not in (".", ".."):
        # A name directly in the resolved root (the competition's layout) resolves to itself
        # unless it is a symbolic link: one lstat, not resolve's walk from "/" (half the
        # check's time at 17,252 pictures: benchmarks/contract_check.py).
        path = root / image
        try:
            if not stat.S_ISLNK(os.lstat(path).st_mode):
                return path, ""
        except FileNotFoundError:
            return path, ""
        except (OSError, ValueError):
            pass  # a name too long...: resolve below says why
    try:
        path = (root / image).resolve()
    except (OSError, RuntimeError, ValueError):  # a symbolic link loop, a name too long
        return None, "which cannot be followed (a symbolic link loop?)"
    if path != root and root not in path.parents:
        return None, "which leads outside it (through '..' or a symbolic link)"
    return path, ""
