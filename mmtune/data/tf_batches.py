"""Batches as ``tf.data`` datasets (the TensorFlow backend's feed).

Rows are gathered a batch at a time from numpy arrays held in memory (or from the picture
cache's file, :class:`~mmtune.data.picture_file.PictureRows`), outside the graph: a trial's
training, validation and statistics parts all read the one copy of the data the cache loaded,
and TensorFlow never holds a copy of its own. (A ``tf.constant`` of the data would double it,
and for a moment triple it: 340 MB more at 64 px at the competition's size.) Which rows each
batch holds is :class:`~mmtune.data.batch_order.BatchOrder`'s, shared with every other feed.

TensorFlow is imported at import time: this module is imported only on that backend.
"""

from __future__ import annotations

# ruff: noqa: E402  (TensorFlow is imported quietly first)
import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from mmtune import keras_backend

keras_backend.start()

import tensorflow as tf

from mmtune.data.batch_order import BatchOrder
from mmtune.data.picture_file import Pictures

__all__ = ["rows_dataset", "index_dataset"]


def _batch_indices(order: BatchOrder) -> tf.data.Dataset:
    """Each epoch's batches of row indices, as :class:`BatchOrder` draws them: the epoch's
    rows are drawn in one call each time the dataset is iterated (once an epoch by ``fit``),
    then cut into the same batches in TensorFlow.

    Not ``Dataset.from_generator`` (mmtune from 53e10e7 to 3fb4548): in a process that had fed
    a model through it, every epoch of the seed's network took 1.8x as long on a 2-core CPU,
    that model's and every later one's (``benchmarks/feed_source.py``)."""
    epochs = itertools.count()

    def rows_of_next_epoch(_: np.ndarray) -> np.ndarray:
        batches = order.epoch(next(epochs))
        return np.concatenate(batches) if batches else np.empty(0, np.int64)

    def rows(dummy: tf.Tensor) -> tf.Tensor:
        out = tf.numpy_function(rows_of_next_epoch, [dummy], tf.int64, stateful=True)
        out.set_shape((None,))
        return out

    ds = tf.data.Dataset.from_tensors(np.int64(0)).map(rows).unbatch()
    # The epoch's batches are consecutive slices of its rows: cut again, they are the same
    # batches; whole ones get their static size (one shape: one traced step).
    ds = ds.batch(order.batch_size, drop_remainder=order.whole_batches)
    # Its length said: else Keras learns it by running out of data in the first epoch, and
    # warns "Your input ran out of data; interrupting training" once per model.
    return ds.apply(tf.data.experimental.assert_cardinality(len(order)))


def rows_dataset(
    arrays: Mapping[str, Pictures],
    order: BatchOrder,
    *,
    inputs: Sequence[str],
    with_labels: bool = True,
) -> tf.data.Dataset:
    """The batches of ``order`` gathered from ``arrays`` (``image``, ``audio``, ``label``):
    ``({"image": ..., "audio": ...}, label)``, or the inputs alone without labels. Each batch
    is one numpy gather, a few hundred kilobytes, run in parallel and in order."""
    names = tuple(inputs) + (("label",) if with_labels else ())
    columns = [arrays[name] for name in names]
    dtypes = [tf.as_dtype(column.dtype) for column in columns]

    def take(index: np.ndarray) -> list[np.ndarray]:
        return [column[index] for column in columns]

    def gather(index: tf.Tensor) -> object:
        parts = tf.numpy_function(take, [index], dtypes, stateful=False)
        for part, column in zip(parts, columns):
            part.set_shape((index.shape[0], *column.shape[1:]))
        features = dict(zip(inputs, parts))
        return (features, parts[-1]) if with_labels else features

    return _mapped(_batch_indices(order), gather)


def index_dataset(order: BatchOrder, labels: np.ndarray) -> tf.data.Dataset:
    """``(row index, label)`` batches of ``order`` (the device feed: the rows themselves are
    gathered on the device); ``labels`` holds every labelled row's class."""
    table = tf.constant(np.asarray(labels, dtype=np.int32))

    def pair(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        rows = tf.cast(index, tf.int32)
        return rows, tf.gather(table, rows)

    return _mapped(_batch_indices(order), pair)


def _mapped(ds: tf.data.Dataset, fn: Callable[[tf.Tensor], object]) -> tf.data.Dataset:
    """``fn`` on each batch, in order, prefetched. Batches are gathered several at once, as
    many as ``tf.data`` finds worth it, except under op determinism (refit turns it on):
    TensorFlow's determinism then rewrites a parallel map into a sequential one anyway, and
    logs an error line ("NodeDef mentions attribute use_unbounded_threadpool which is not in
    the op definition") for every dataset it rewrites, two a model in the refit's output."""
    from tensorflow.python.framework import config

    if config.is_op_determinism_enabled():
        ds = ds.map(fn)
    else:
        ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
