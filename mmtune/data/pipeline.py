"""From cached arrays to batches: the stratified split, audio statistics, datasets.

No augmentation and no standardization happen here: the model holds its
``Rescaling``, ``Standardize`` and augmentation layers, so a saved model takes
the raw cached tensors. This module only splits and checks; the batches come from
:mod:`mmtune.data.feed` (``tf.data`` on TensorFlow, a thread-fed ``PyDataset`` elsewhere).

>>> train_idx, val_idx = stratified_split(data.train_labels)      # doctest: +SKIP
>>> stats = fit_audio_stats(data.train_mfcc[train_idx])            # doctest: +SKIP
>>> ds = make_dataset(data.train_images[train_idx], data.train_mfcc[train_idx],
...                   data.train_labels[train_idx], shuffle=True)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmtune.data.picture_file import PictureRows, Pictures

__all__ = [
    "stratified_split",
    "AudioStats",
    "fit_audio_stats",
    "make_dataset",
    "INPUT_NAMES",
]

INPUT_NAMES = ("image", "audio")
_STD_FLOOR = 1e-6


def stratified_split(
    labels: np.ndarray | Sequence[int], val_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified train/validation split of row indices (both sorted).

    ``val_fraction=0`` is the full-data mode (refit): every row trains. When a
    class is too small for scikit-learn's stratified split, each class is split
    on its own instead, a class with a single row going to training.
    """
    labels = np.asarray(labels)
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"Expected val_fraction in [0, 1). Received: val_fraction={val_fraction}")
    n = len(labels)
    everything = np.arange(n, dtype=np.int64)
    if val_fraction == 0.0 or n == 0:
        return everything, np.empty(0, dtype=np.int64)
    from sklearn.model_selection import train_test_split

    try:
        train_idx, val_idx = train_test_split(
            everything, test_size=val_fraction, random_state=seed, stratify=labels
        )
    except ValueError:  # a class with one row, or fewer validation rows than classes
        rng = np.random.default_rng(seed)
        val_parts = []
        for cls in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == cls))
            k = min(int(round(len(rows) * val_fraction)), len(rows) - 1)
            val_parts.append(rows[:k])
        val_idx = np.concatenate(val_parts) if val_parts else np.empty(0, dtype=np.int64)
        train_idx = np.setdiff1d(everything, val_idx)
    return np.sort(train_idx).astype(np.int64), np.sort(val_idx).astype(np.int64)


@dataclass(frozen=True)
class AudioStats:
    """Per-column mean and standard deviation of the MFCCs (float32, shape ``(K,)``)."""

    mean: np.ndarray
    std: np.ndarray


def fit_audio_stats(mfcc: np.ndarray) -> AudioStats:
    """Mean and std of each MFCC column; pass the TRAINING part only.

    A column with (almost) no spread gets std 1 (as scikit-learn's
    ``StandardScaler``), so standardizing never divides by zero.
    """
    mfcc = np.asarray(mfcc, dtype=np.float64)
    if mfcc.ndim != 2 or mfcc.shape[0] == 0:
        raise ValueError(
            f"Expected MFCCs of shape (rows, columns) with at least one row. "
            f"Received: shape={mfcc.shape}"
        )
    mean = mfcc.mean(axis=0)
    std = mfcc.std(axis=0)
    std = np.where(std < _STD_FLOOR * np.maximum(1.0, np.abs(mean)), 1.0, std)
    return AudioStats(mean=mean.astype(np.float32), std=std.astype(np.float32))


def make_dataset(
    images: Pictures | None,
    mfcc: np.ndarray | None,
    labels: np.ndarray | None = None,
    *,
    inputs: Sequence[str] = INPUT_NAMES,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
) -> Iterable[Any]:
    """A batched, prefetched dataset of ``({"image": uint8, "audio": float32}, label)``.

    Only the names in ``inputs`` are yielded. Without ``labels`` (test,
    predict) it yields the inputs alone. ``shuffle=True`` (training) reshuffles
    every epoch from ``seed``; otherwise rows come in their given order, the
    last batch is kept whole or partial, and no row is ever dropped.

    Rows are gathered a batch at a time from the arrays held in memory, so an
    epoch costs about what ``fit`` on in-memory arrays costs.
    """

    inputs = tuple(inputs)
    unknown = [name for name in inputs if name not in INPUT_NAMES]
    if not inputs or unknown:
        raise ValueError(f"Expected inputs among {INPUT_NAMES}. Received: inputs={inputs}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            f"Expected a positive integer batch_size. Received: batch_size={batch_size}"
        )
    arrays: dict[str, Pictures] = {}
    if "image" in inputs:
        if images is None:
            raise ValueError("Expected images for the 'image' input. Received: images=None")
        arrays["image"] = (
            images if isinstance(images, PictureRows) else np.asarray(images, dtype=np.uint8)
        )
    if "audio" in inputs:
        if mfcc is None:
            raise ValueError("Expected MFCCs for the 'audio' input. Received: mfcc=None")
        arrays["audio"] = np.asarray(mfcc, dtype=np.float32)
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int32)
    lengths = {name: len(a) for name, a in arrays.items()}
    if labels is not None:
        lengths["labels"] = len(labels)
    if len(set(lengths.values())) != 1:
        raise ValueError(f"Expected the same number of rows in every array. Received: {lengths}")
    n = next(iter(lengths.values()))
    if labels is not None:
        arrays["label"] = labels
    from mmtune.data.batch_order import BatchOrder
    from mmtune.data.feed import host_batches

    order = BatchOrder(np.arange(n), int(batch_size), shuffle, seed)
    return host_batches(arrays, order, inputs=inputs, with_labels=labels is not None)
