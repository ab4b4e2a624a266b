"""Device-resident feeding (``--feed device``): the data lives on the training device.

The cached pictures and MFCCs of every labelled row are copied once to the
device (the GPU when there is one, else the CPU) as constant tensors, and
each step's batch is gathered there by row index: only the indices and
labels (a few bytes a row) cross from the host each step. Training runs a
wrapper model ``rows -> gather -> model`` that shares the model's layers and
weights, so the model itself is trained, saved and used as with the pipeline.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["device_trainer", "index_dataset", "training_device"]


def training_device() -> str:
    """``/GPU:0`` when TensorFlow sees a GPU, else ``/CPU:0``."""
    import tensorflow as tf

    return "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"


def device_trainer(
    model: Any, images: np.ndarray, mfcc: np.ndarray, inputs: tuple[str, ...]
) -> Any:
    """A model taking row indices: gathers ``images``/``mfcc`` rows on the device, then
    ``model``."""
    import keras
    import tensorflow as tf

    with tf.device(training_device()):
        tensors = {}
        if "image" in inputs:
            tensors["image"] = tf.constant(images)
        if "audio" in inputs:
            tensors["audio"] = tf.constant(mfcc)

    class RowGather(keras.layers.Layer):
        """Rows of the device-resident tensors, by index (no weights)."""

        def call(self, rows: Any) -> dict[str, Any]:
            return {name: tf.gather(tensor, rows) for name, tensor in tensors.items()}

    rows = keras.Input(shape=(), dtype="int32", name="rows")
    return keras.Model(rows, model(RowGather(name="row_gather")(rows)), name="device_fed")


def index_dataset(
    rows: np.ndarray, labels: np.ndarray, *, batch_size: int, shuffle: bool, seed: int = 0
) -> Any:
    """``(row index, label)`` batches; reshuffled each epoch when ``shuffle``."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((rows.astype(np.int32), labels.astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
