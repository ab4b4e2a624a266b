"""A study's data as trials see it: loaded once per resolution, split once.

Every trial of a search (and the refit) asks :class:`DataSource` for the
data at its resolution; the cache is read (or built, with the data check) the
first time and kept in memory for the trials after. The train/validation
split is seeded and stratified, and the audio statistics come from the
training part only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmtune.errors import MmtuneError

if TYPE_CHECKING:
    from mmtune.data.cache import CachedData
    from mmtune.data.picture_file import Pictures
    from mmtune.errors import Problem

__all__ = ["DataSource", "InputSpec", "SplitData", "SPLIT_SEED", "VAL_FRACTION", "split_problems"]

SPLIT_SEED = 42  # the seed notebook's train_test_split(random_state=42)
VAL_FRACTION = 0.2  # the seed's 80/20


@dataclass(frozen=True)
class InputSpec:
    """The data's shapes, and the audio statistics of the training part.

    ``resolution``: picture side of the cache (pictures are R x R x 3 uint8);
    ``n_mfcc``: audio coefficients per row (K); ``n_classes``: C.
    ``audio_mean``/``audio_std``: per-coefficient statistics; ``None`` builds
    the model without a ``Standardize`` layer. ``mfcc_columns``: the data's MFCC column
    names, in the order the audio input takes them (kept by the model, so that ``predict``
    lines a data set's columns up by name).
    """

    resolution: int
    n_mfcc: int
    n_classes: int
    audio_mean: tuple[float, ...] | None = None
    audio_std: tuple[float, ...] | None = None
    mfcc_columns: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("resolution", "n_mfcc", "n_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MmtuneError(f"Expected a positive integer. Received: {name}={value!r}")
        if self.n_classes < 2:
            raise MmtuneError(f"Expected at least 2 classes. Received: n_classes={self.n_classes}")
        if (self.audio_mean is None) != (self.audio_std is None):
            raise MmtuneError("Expected both audio_mean and audio_std, or neither.")
        if self.audio_mean is not None and self.audio_std is not None:
            mean = tuple(float(v) for v in self.audio_mean)
            std = tuple(float(v) for v in self.audio_std)
            object.__setattr__(self, "audio_mean", mean)
            object.__setattr__(self, "audio_std", std)
            if len(mean) != self.n_mfcc or len(std) != self.n_mfcc:
                raise MmtuneError(
                    f"Expected audio statistics of length n_mfcc={self.n_mfcc}. Received: "
                    f"len(audio_mean)={len(mean)}, len(audio_std)={len(std)}"
                )
        if self.mfcc_columns is not None:
            columns = tuple(str(c) for c in self.mfcc_columns)
            object.__setattr__(self, "mfcc_columns", columns)
            if len(columns) != self.n_mfcc:
                raise MmtuneError(
                    f"Expected {self.n_mfcc} MFCC column names. Received: {len(columns)}"
                )

    @classmethod
    def seed(cls) -> InputSpec:
        """The seed data set's shapes: 64x64 cached pictures, 104 MFCCs, 9 classes."""
        return cls(resolution=64, n_mfcc=104, n_classes=9)


@dataclass
class SplitData:
    """One resolution's cached data with its train/validation split."""

    data: CachedData
    train_idx: np.ndarray
    val_idx: np.ndarray
    _arrays: dict[str, Pictures] | None = field(default=None, repr=False, compare=False)
    _on_device: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def arrays(self) -> dict[str, Pictures]:
        """The labelled rows (``image`` uint8, ``audio`` float32, ``label`` int32), made once
        and shared by every trial at this resolution: a trial's datasets gather their rows
        from them (the pictures are read from the cache file a batch at a time, never
        copied whole)."""
        if self._arrays is None:
            d = self.data
            self._arrays = {
                "image": d.train_images,
                "audio": np.ascontiguousarray(d.train_mfcc, dtype=np.float32),
                "label": np.ascontiguousarray(d.train_labels, dtype=np.int32),
            }
        return self._arrays

    def on_device(self) -> dict[str, Any]:
        """:meth:`arrays` on the training device, copied once: the ``device`` feed keeps the
        whole data set there (a GPU's memory, not the host's)."""
        if self._on_device is None:
            from mmtune import keras_backend

            self._on_device = keras_backend.on_device(self.arrays())
        return self._on_device

    def input_spec(self, full: bool = False) -> InputSpec:
        """Shapes and audio statistics (from the training part, or all labelled rows if full)."""
        from mmtune.data.pipeline import fit_audio_stats

        rows = np.arange(len(self.data.train_labels)) if full else self.train_idx
        stats = fit_audio_stats(self.data.train_mfcc[rows])
        return InputSpec(
            resolution=self.data.resolution,
            n_mfcc=self.data.spec.n_mfcc,
            n_classes=self.data.spec.n_classes,
            audio_mean=tuple(float(v) for v in stats.mean),
            audio_std=tuple(float(v) for v in stats.std),
            mfcc_columns=tuple(self.data.spec.mfcc_columns),
        )

    def part(self, which: str) -> tuple[Pictures, np.ndarray, np.ndarray]:
        """``(images, mfcc, labels)`` of ``"train"``, ``"val"`` or ``"all"`` labelled rows."""
        d = self.data
        if which == "all":
            return d.train_images, d.train_mfcc, d.train_labels
        idx = {"train": self.train_idx, "val": self.val_idx}[which]
        return d.train_images[idx], d.train_mfcc[idx], d.train_labels[idx]


@dataclass
class DataSource:
    """The data directory of a study, served to trials at any resolution.

    One resolution is loaded at a time (a trial at another one opens its picture cache on
    disk, a second or two). Its pictures stay in that file and are read a batch at a time:
    at the competition's size the 128 px pictures alone take 848 MB, which a search does
    not hold. What every resolution shares (the data's hash, the validation size) is kept
    from the first load.
    """

    data_dir: Path
    strict: bool = False
    data_hash: str = ""
    val_rows: int = 0
    n_mfcc: int = 0
    n_classes: int = 0
    _loaded: dict[int, SplitData] = field(default_factory=dict, repr=False)

    def loaded(self, resolution: int) -> bool:
        """True when ``resolution``'s data is the one held now (no load to save)."""
        return resolution in self._loaded

    def shapes(self, resolution: int) -> InputSpec | None:
        """The model's input shapes at ``resolution`` without loading that resolution's
        pictures (no audio statistics); ``None`` before the first load."""
        if not self.n_classes:
            return None
        return InputSpec(resolution=resolution, n_mfcc=self.n_mfcc, n_classes=self.n_classes)

    def get(self, resolution: int) -> SplitData:
        """The data at ``resolution`` (checked and cached on first use)."""
        if resolution not in self._loaded:
            self._loaded.clear()  # the other resolution's arrays and tensors go
            from mmtune.data.cache import load_data
            from mmtune.data.pipeline import stratified_split

            data = load_data(self.data_dir, resolution, strict=self.strict)
            train_idx, val_idx = stratified_split(data.train_labels, VAL_FRACTION, SPLIT_SEED)
            problems = split_problems(data.train_labels, data.spec.class_names, train_idx, val_idx)
            if problems:  # refused before any training: no trial could be judged fairly
                from mmtune.errors import DataError

                raise DataError(problems, str(data.data_dir))
            self._loaded[resolution] = SplitData(data, np.asarray(train_idx), np.asarray(val_idx))
            self.data_hash, self.val_rows = data.data_hash, int(len(val_idx))
            self.n_mfcc, self.n_classes = data.spec.n_mfcc, data.spec.n_classes
        return self._loaded[resolution]


#: Labelled rows a class needs for the 80/20 split to give it rows in both parts.
ROWS_PER_CLASS = 5


def split_problems(
    labels: np.ndarray, class_names: tuple[str, ...], train_idx: np.ndarray, val_idx: np.ndarray
) -> list[Problem]:
    """One problem per class the split leaves out of its training or validation part.

    A trial trains on the training part and is judged on the validation part: a class
    absent from either cannot be learnt or measured (with every class a single row, the
    validation part is empty and every trial fails).
    """
    from mmtune.data.contract import CLASS, TRAIN_CSV
    from mmtune.errors import Problem

    problems = []
    for index, name in enumerate(class_names):
        rows = int(np.sum(labels == index))
        parts = [
            part
            for part, idx in (("training", train_idx), ("validation", val_idx))
            if not np.any(labels[idx] == index)
        ]
        if parts:
            problems.append(
                Problem(
                    TRAIN_CSV,
                    f"Expected every class in both parts of the seeded, stratified "
                    f"{1 - VAL_FRACTION:.0%}/{VAL_FRACTION:.0%} training/validation split, which "
                    f"needs at least 2 labelled rows a class ({ROWS_PER_CLASS} or more always "
                    f"suffice). Received: class {index} ({name[:80]}) with {rows} labelled "
                    f"row{'s' if rows != 1 else ''}, none in the {' or '.join(parts)} part",
                    column=CLASS,
                )
            )
    return problems
