"""The data contract: read the two CSVs of a data directory and check them.

The competition's layout::

    DATA_DIR/
      data_train.csv      IMAGE, mfcc_1 .. mfcc_K, CLASS   (CLASS: int 0..C-1)
      data_test_novt.csv  IMAGE, mfcc_1 .. mfcc_K           (no CLASS)
      class_names.txt     optional, one class name per line (line i names class i)
      <IMAGE files>       paths relative to DATA_DIR

K, C and the picture size come from the data. This module checks everything a
CSV can say (the pictures themselves are decoded and checked by
:mod:`mmtune.cache`), collects every problem, and raises one
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmtune.errors import DataError, Problem

__all__ = ["read_tables", "Tables", "DataSpec", "TRAIN_CSV", "TEST_CSV", "CLASS_NAMES_FILE"]

TRAIN_CSV = "data_train.csv"
TEST_CSV = "data_test_novt.csv"
CLASS_NAMES_FILE = "class_names.txt"
IMAGE = "IMAGE"
CLASS = "CLASS"


@dataclass(frozen=True)
class DataSpec:
    """What the data says about the model's inputs and outputs.

    ``image_size`` is the pictures' most common ``(height, width)``; it is
    ``None`` until the pictures have been looked at (:func:`mmtune.cache.load_data`
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
    relative to ``data_dir``). ``csv_sha256`` maps each CSV's file name to the
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

    def image_path(self, name: str) -> Path:
        """The file an IMAGE value names."""
        return self.data_dir / name


def read_tables(data_dir: str | os.PathLike[str]) -> Tables:
    """Read and check ``data_train.csv`` and ``data_test_novt.csv`` in ``data_dir``.

    Raises :class:`DataError` listing every error-severity problem; warnings
    (a CLASS column in the test CSV, ...) come back in ``Tables.warnings``.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError([Problem(str(data_dir), "Expected a data directory. Received: "
                                 + ("a file" if data_dir.exists() else "a path that does not exist"))],
                        str(data_dir))
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
            problems.append(Problem(TEST_CSV, "the MFCC columns are in a different order than in "
                                    f"{TRAIN_CSV}; they are matched by name", severity="warning"))
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

    train_images = _images(train, TRAIN_CSV, data_dir, problems)
    test_images = _images(test, TEST_CSV, data_dir, problems)
    if train_images and test_images:
        shared = sorted(set(train_images) & set(test_images))
        if shared:
            problems.append(Problem(TEST_CSV, f"{len(shared)} picture(s) also appear in {TRAIN_CSV} "
                                    f"(first: {shared[0]!r})", column=IMAGE, severity="warning"))

    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DataError(problems, str(data_dir))
    assert train_mfcc is not None and test_mfcc is not None and labels is not None
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
    )


def _names(cols: list[str], limit: int = 5) -> str:
    shown = ", ".join(cols[:limit])
    return shown + (f" and {len(cols) - limit} more" if len(cols) > limit else "")


def _read_csv(data_dir: Path, name: str, problems: list[Problem],
              digests: dict[str, str]) -> pd.DataFrame | None:
    """Read one CSV with every cell as text (so that nothing is parsed silently)."""
    path = data_dir / name
    if not path.is_file():
        problems.append(Problem(name, f"the file is missing (expected {path})"))
        return None
    raw = path.read_bytes()
    digests[name] = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        problems.append(Problem(name, "the file is empty; expected a header line and data rows"))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(name, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})"))
        return None
    header = next(csv.reader(io.StringIO(text)), [])
    dupes = sorted(c for c, n in Counter(h.strip() for h in header).items() if n > 1)
    if dupes:
        problems.append(Problem(name, f"the header names a column more than once: {_names(dupes)}"))
        return None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        problems.append(Problem(name, f"the file is not a readable CSV: {exc}"))
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        problems.append(Problem(name, "the file has a header but no data rows"))
        return None
    if IMAGE not in frame.columns:
        problems.append(Problem(name, f"Expected a column named {IMAGE}. "
                                f"Received columns: {_names(list(frame.columns))}", column=IMAGE))
        return None
    return frame


def _mfcc_columns(frame: pd.DataFrame, name: str, problems: list[Problem],
                  *, is_test: bool) -> list[str] | None:
    cols = [c for c in frame.columns if c not in (IMAGE, CLASS)]
    if is_test and CLASS in frame.columns:
        problems.append(Problem(name, "the test file has a CLASS column; it is ignored",
                                column=CLASS, severity="warning"))
    if not is_test and CLASS not in frame.columns:
        problems.append(Problem(name, f"Expected a column named {CLASS} (the label). "
                                "Received none", column=CLASS))
    if not cols:
        problems.append(Problem(name, f"Expected MFCC columns between {IMAGE} and {CLASS}. "
                                "Received none"))
        return None
    return cols


def _mfcc_values(frame: pd.DataFrame, cols: list[str], name: str,
                 problems: list[Problem]) -> np.ndarray:
    """The MFCC block as float32; every NaN, inf or non-number is a problem."""
    text = frame[cols]
    values = text.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    for row, col in zip(*np.nonzero(bad)):
        cell = str(text.iat[row, col])
        if cell.strip() == "" or cell.strip().lower() in ("nan", "na", "null", "none"):
            what = "is empty" if cell.strip() == "" else f"is {cell.strip()!r}"
            msg = f"Expected a finite number. Received: a value that {what}"
        elif np.isinf(values[row, col]):
            msg = f"Expected a finite number. Received: {cell!r}"
        else:
            msg = f"Expected a number. Received: {cell!r}"
        problems.append(Problem(name, msg, row=int(row), column=cols[col]))
    with np.errstate(over="ignore"):
        out = values.astype(np.float32)
    overflow = np.isfinite(values) & ~np.isfinite(out)
    for row, col in zip(*np.nonzero(overflow)):
        problems.append(Problem(name, f"Expected a number that fits in float32. "
                                f"Received: {text.iat[row, col]!r}", row=int(row), column=cols[col]))
    return out


def _labels(frame: pd.DataFrame, problems: list[Problem]) -> np.ndarray:
    """CLASS as integers (``-1`` where unusable, each such row reported)."""
    if CLASS not in frame.columns:
        return np.full(len(frame), -1, dtype=np.int64)
    text = frame[CLASS].astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    labels = np.full(len(frame), -1, dtype=np.int64)
    for row, (cell, value) in enumerate(zip(text, numbers)):
        if cell == "":
            problems.append(Problem(TRAIN_CSV, "the label is missing", row=row, column=CLASS))
        elif not np.isfinite(value) or value != np.floor(value):
            problems.append(Problem(TRAIN_CSV, f"Expected an integer class index. Received: {cell!r}",
                                    row=row, column=CLASS))
        elif value < 0:
            problems.append(Problem(TRAIN_CSV, f"Expected a class index >= 0. Received: {cell}",
                                    row=row, column=CLASS))
        else:
            labels[row] = int(value)
    return labels


def _class_names(data_dir: Path, labels: np.ndarray, problems: list[Problem]) -> tuple[str, ...]:
    """Names from ``class_names.txt`` when present, else ``"0" .. str(max)``."""
    path = data_dir / CLASS_NAMES_FILE
    valid = labels[labels >= 0]
    if path.is_file():
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                      if line.strip())
        if not names:
            problems.append(Problem(CLASS_NAMES_FILE, "the file names no class; "
                                    "expected one class name per line"))
            return ()
        dupes = sorted(n for n, k in Counter(names).items() if k > 1)
        if dupes:
            problems.append(Problem(CLASS_NAMES_FILE, f"a class name appears twice: {_names(dupes)}"))
        out_of_range = np.nonzero(labels >= len(names))[0]
        for row in out_of_range:
            problems.append(Problem(
                TRAIN_CSV, f"Expected a class index in 0..{len(names) - 1} ({len(names)} classes "
                f"named in {CLASS_NAMES_FILE}). Received: {labels[row]}", row=int(row), column=CLASS))
    else:
        names = tuple(str(i) for i in range(int(valid.max()) + 1)) if valid.size else ()
    counts = np.bincount(valid[valid < len(names)], minlength=len(names)) if names else []
    for index, count in enumerate(counts):
        if count == 0:
            problems.append(Problem(TRAIN_CSV, f"class {index} ({names[index]}) has no rows; "
                                    "every class needs training examples", column=CLASS))
    return names


def _images(frame: pd.DataFrame | None, name: str, data_dir: Path,
            problems: list[Problem]) -> list[str]:
    """The IMAGE column; empty values, duplicates and missing files are problems."""
    if frame is None:
        return []
    images = [str(v).strip() for v in frame[IMAGE]]
    first_seen: dict[str, int] = {}
    for row, image in enumerate(images):
        if image == "":
            problems.append(Problem(name, "the picture's file name is empty", row=row, column=IMAGE))
            continue
        if image in first_seen:
            problems.append(Problem(name, f"the picture {image!r} is listed twice "
                                    f"(first at row {first_seen[image]})", row=row, column=IMAGE))
            continue
        first_seen[image] = row
        if not (data_dir / image).is_file():
            problems.append(Problem(name, f"the picture file {image!r} is missing "
                                    f"(expected {data_dir / image})", row=row, column=IMAGE))
    return images
