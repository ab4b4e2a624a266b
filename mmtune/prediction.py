"""Predictions on the test set and the files made from them.

The submission is the competition's: ``id,CLASS``, one row per row of
``data_test_novt.csv`` in file order, ``id`` the 0-based row index and
``CLASS`` the integer class (as the seed writes it). Probabilities files name
their columns by class. Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmtune.atomic import atomic_write_text

__all__ = ["predict_probabilities", "write_submission", "write_probabilities", "model_resolution",
           "model_inputs", "load_model"]


def load_model(path: str | Path) -> Any:
    """Load a ``.keras`` model written by mmtune (its custom layers registered)."""
    from mmtune.tf_setup import import_tensorflow

    import_tensorflow()
    import keras

    import mmtune.layers  # noqa: F401  registers Standardize for deserialization
    from mmtune.errors import MmtuneError

    path = Path(path)
    if not path.is_file():
        raise MmtuneError(f"--model {path}: no such file")
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as exc:
        raise MmtuneError(f"cannot load the model {path}: {exc}") from exc


def model_inputs(model: Any) -> tuple[str, ...]:
    """The names of the model's inputs (``image``, ``audio``)."""
    return tuple(t.name.split(":")[0] for t in model.inputs)


def model_resolution(model: Any) -> int | None:
    """The picture side the model takes, or None for an audio-only model."""
    for tensor in model.inputs:
        if len(tensor.shape) == 4:
            return int(tensor.shape[1])
    return None


def predict_probabilities(model: Any, images: np.ndarray, mfcc: np.ndarray,
                          batch_size: int = 256) -> np.ndarray:
    """Class probabilities ``(rows, classes)`` for every row, in order."""
    from mmtune.pipeline import make_dataset

    dataset = make_dataset(images, mfcc, None, inputs=model_inputs(model), batch_size=batch_size)
    probs = np.asarray(model.predict(dataset, verbose=0), dtype=np.float64)
    if len(probs) != len(mfcc):
        raise RuntimeError(f"predicted {len(probs)} rows for {len(mfcc)} test rows")
    return probs


def write_submission(path: str | Path, classes: Sequence[int] | np.ndarray) -> Path:
    """``id,CLASS`` rows, one per test row, in order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "CLASS"])
    writer.writerows((i, int(c)) for i, c in enumerate(classes))
    atomic_write_text(path, out.getvalue())
    return Path(path)


def write_probabilities(path: str | Path, probs: np.ndarray, class_names: Sequence[str]) -> Path:
    """``id`` and one probability column per class name."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", *class_names])
    writer.writerows([i, *(f"{p:.6f}" for p in row)] for i, row in enumerate(probs))
    atomic_write_text(path, out.getvalue())
    return Path(path)
