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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmtune.atomic import atomic_write_text
from mmtune.model.training import EVAL_BATCH

if TYPE_CHECKING:
    import keras

    from mmtune.data.picture_file import Pictures

__all__ = [
    "predict_probabilities",
    "write_submission",
    "write_probabilities",
    "model_resolution",
    "model_inputs",
    "load_model",
    "ModelInputs",
    "aligned_mfcc",
    "describe_model",
]


def load_model(path: str | Path) -> keras.Model:
    """Load a ``.keras`` model written by mmtune (its custom layers registered)."""
    from mmtune import keras_backend

    keras_backend.start()
    import keras

    import mmtune.model.layers  # noqa: F401  registers Standardize for deserialization
    from mmtune.errors import MmtuneError
    from mmtune.file_kinds import describe, is_regular

    path = Path(path)
    if not is_regular(path):
        kind = describe(path)
        if kind == "missing":
            raise MmtuneError(f"--model {path}: no such file")
        raise MmtuneError(f"--model {path}: Expected a .keras model file. Received: {kind}")
    try:
        return keras.saving.load_model(str(path), compile=False, safe_mode=True)  # no code runs
    except Exception as exc:
        raise MmtuneError(f"cannot load the model {path}: {str(exc)[:300]}") from None


@dataclass(frozen=True)
class ModelInputs:
    """What a saved model takes and gives, read from its inputs by name.

    ``resolution`` is the side of its ``image`` input (None: no picture input), ``n_mfcc``
    the width of its ``audio`` input (None: no audio input), ``n_classes`` its output's width,
    ``mfcc_columns`` the names of the MFCC columns its audio input takes, in order (None: a
    model that does not record them, as models saved before mmtune kept them).
    """

    names: tuple[str, ...]
    resolution: int | None
    n_mfcc: int | None
    n_classes: int
    mfcc_columns: tuple[str, ...] | None = None


def describe_model(model: keras.Model, path: str | Path = "the model") -> ModelInputs:
    """The inputs ``model`` takes, looked up by name (``image``, ``audio``), in any order.

    Raises:
        MmtuneError: inputs under other names, a picture input of unknown, non-square or
            absurd size (outside the cache's 8..1024), an audio input of unknown width, or
            an output that is not one row of class probabilities.
    """
    from mmtune.data.cache import MAX_RESOLUTION, MIN_RESOLUTION
    from mmtune.data.pipeline import INPUT_NAMES
    from mmtune.errors import MmtuneError

    def refuse(what: str) -> MmtuneError:
        return MmtuneError(f"--model {path}: {what}")

    names = model_inputs(model)
    shapes = {name: tuple(t.shape) for name, t in zip(names, model.inputs)}
    if not names or len(set(names)) != len(names) or not set(names) <= set(INPUT_NAMES):
        return_names = ", ".join(f"{n} {shapes[n]}" for n in names) or "none"
        raise refuse(
            f"Expected inputs named among {', '.join(INPUT_NAMES)} (an mmtune model: "
            f"'image' for pictures, 'audio' for MFCCs). Received: {return_names}"
        )
    resolution = n_mfcc = None
    if "image" in shapes:
        shape = shapes["image"]
        if len(shape) != 4 or shape[3] != 3 or shape[1] is None or shape[2] is None:
            raise refuse(
                f"Expected an 'image' input of shape (batch, side, side, 3) with a "
                f"known side. Received: {_shape(shape)}"
            )
        if shape[1] != shape[2] or not MIN_RESOLUTION <= shape[1] <= MAX_RESOLUTION:
            raise refuse(
                f"Expected a square 'image' input of {MIN_RESOLUTION} to "
                f"{MAX_RESOLUTION} pixels a side. Received: {shape[2]}x{shape[1]}"
            )
        resolution = int(shape[1])
    if "audio" in shapes:
        shape = shapes["audio"]
        if len(shape) != 2 or shape[1] is None:
            raise refuse(
                f"Expected an 'audio' input of shape (batch, MFCC columns) with a "
                f"known width. Received: {_shape(shape)}"
            )
        n_mfcc = int(shape[1])
    outputs = [tuple(t.shape) for t in model.outputs]
    if len(outputs) != 1 or len(outputs[0]) != 2 or outputs[0][1] is None:
        raise refuse(
            f"Expected one output of shape (batch, classes). "
            f"Received: {', '.join(_shape(o) for o in outputs) or 'none'}"
        )
    columns = _mfcc_columns(model)
    if len(columns) > 1:
        raise refuse(
            "Expected members trained on the same MFCC columns. Received: members whose "
            "columns differ in names or order"
        )
    mfcc_columns = next(iter(columns), None)
    if mfcc_columns is not None and n_mfcc is not None and len(mfcc_columns) != n_mfcc:
        raise refuse(
            f"Expected {n_mfcc} MFCC column names for its {n_mfcc}-wide audio input. "
            f"Received: {len(mfcc_columns)}"
        )
    return ModelInputs(
        names=names,
        resolution=resolution,
        n_mfcc=n_mfcc,
        n_classes=int(outputs[0][1]),
        mfcc_columns=mfcc_columns,
    )


def _mfcc_columns(model: keras.Model) -> set[tuple[str, ...]]:
    """The MFCC column names every ``Standardize`` layer of ``model`` (members of an
    ensemble included) was fitted on."""
    from mmtune.model.layers import Standardize

    found: set[tuple[str, ...]] = set()
    for layer in model.layers:
        if isinstance(layer, Standardize) and layer.columns is not None:
            found.add(layer.columns)
        elif hasattr(layer, "layers"):  # a member model inside an averaging model
            found |= _mfcc_columns(layer)
    return found


def aligned_mfcc(
    takes: ModelInputs, columns: Sequence[str], mfcc: np.ndarray, where: str
) -> tuple[np.ndarray, str | None]:
    """``mfcc`` (the data's columns, named ``columns``) with its columns in the order the model
    was trained on, matched by name; and a note when they had to be reordered.

    A model that records no names takes the columns in the data's order (the note says so).

    Raises:
        MmtuneError: the data's MFCC columns are not the model's (named: those missing, those
            the model does not know), or not as many.
    """
    from mmtune.errors import MmtuneError, shown

    if takes.n_mfcc is None:  # no audio input
        return mfcc, None
    if takes.mfcc_columns is None:
        if takes.n_mfcc != len(columns):
            raise MmtuneError(
                f"the model takes {takes.n_mfcc} MFCC columns; the data in {where} "
                f"has {len(columns)}"
            )
        return mfcc, (
            "the model records no MFCC column names (saved by an older mmtune): the data's "
            "columns are taken in the order of its CSV"
        )
    wanted = list(takes.mfcc_columns)
    if wanted == list(columns):
        return mfcc, None
    if sorted(wanted) != sorted(columns):
        missing = [c for c in wanted if c not in columns]
        unknown = [c for c in columns if c not in wanted]

        def names(cols: list[str]) -> str:
            listed = ", ".join(shown(c) for c in cols[:5])
            return listed + (f" and {len(cols) - 5} more" if len(cols) > 5 else "")

        what = [f"missing from the data: {names(missing)}"] if missing else []
        what += [f"not among the model's: {names(unknown)}"] if unknown else []
        raise MmtuneError(
            f"Expected the {len(wanted)} MFCC columns the model was trained on. Received: the "
            f"data in {where} has {len(columns)}; " + "; ".join(what or ["the same names twice"])
        )
    order = [list(columns).index(c) for c in wanted]
    return np.ascontiguousarray(mfcc[:, order]), (
        f"the data in {where} lists the MFCC columns in another order than the model was "
        "trained on: they are matched by name"
    )


def _shape(shape: tuple) -> str:
    return (
        "("
        + ", ".join(
            "batch" if i == 0 and d is None else ("?" if d is None else str(d))
            for i, d in enumerate(shape)
        )
        + ")"
    )


def model_inputs(model: keras.Model) -> tuple[str, ...]:
    """The names of the model's inputs (``image``, ``audio``)."""
    return tuple(t.name.split(":")[0] for t in model.inputs)


def model_resolution(model: keras.Model) -> int | None:
    """The picture side the model takes (its ``image`` input), or None for an audio-only model."""
    return describe_model(model).resolution


def predict_probabilities(
    model: keras.Model, images: Pictures, mfcc: np.ndarray, batch_size: int = EVAL_BATCH
) -> np.ndarray:
    """Class probabilities ``(rows, classes)`` for every row, in order."""
    from mmtune.data.pipeline import make_dataset

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
