"""Device-resident feeding (``--feed device``): the data lives on the training device.

The cached pictures and MFCCs of every labelled row are copied once to the
device (the GPU when there is one, else the CPU) as constant tensors, and
each step's batch is gathered there by row index: only the indices and
labels (a few bytes a row) cross from the host each step. Training runs a
wrapper model ``rows -> gather -> model`` that shares the model's layers and
weights, so the model itself is trained, saved and used as with the pipeline.

TensorFlow and Keras are imported at import time: this module is imported only for
``--feed device``.
"""

from __future__ import annotations

# ruff: noqa: E402  (TensorFlow is imported quietly first)
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mmtune.tf_setup import import_tensorflow

tf = import_tensorflow()

import keras

if TYPE_CHECKING:
    import tensorflow

__all__ = ["RowGather", "device_trainer", "index_dataset", "training_device"]


def training_device() -> str:
    """``/GPU:0`` when TensorFlow sees a GPU, else ``/CPU:0``."""
    return "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"


class RowGather(keras.layers.Layer):
    """Rows of device-resident tensors, by index (no weights)."""

    def __init__(self, tensors: dict[str, tensorflow.Tensor], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tensors = tensors

    def call(self, rows: tensorflow.Tensor) -> dict[str, tensorflow.Tensor]:
        return {name: tf.gather(tensor, rows) for name, tensor in self.tensors.items()}


def device_trainer(
    model: keras.Model, tensors: Mapping[str, tensorflow.Tensor], inputs: tuple[str, ...]
) -> keras.Model:
    """A model taking row indices: gathers the rows of ``tensors`` (a split's, see
    :meth:`mmtune.data.trial_data.SplitData.tensors`) on the device, then ``model``."""
    device = training_device()
    if device == "/CPU:0":  # the split's tensors are already there: no copy
        on_device = {name: tensors[name] for name in inputs}
    else:
        with tf.device(device):
            on_device = {name: tf.identity(tensors[name]) for name in inputs}
    rows = keras.Input(shape=(), dtype="int32", name="rows")
    gathered = RowGather(on_device, name="row_gather")(rows)
    return keras.Model(rows, model(gathered), name="device_fed")


def index_dataset(
    rows: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    drop_remainder: bool = False,
) -> tensorflow.data.Dataset:
    """``(row index, label)`` batches; reshuffled each epoch when ``shuffle``; without the
    last partial batch when ``drop_remainder``."""
    ds = tf.data.Dataset.from_tensor_slices((rows.astype(np.int32), labels.astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
