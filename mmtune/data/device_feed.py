"""TensorFlow's device feed (``--feed device``): a model that takes row indices.

The labelled rows live on the training device (:meth:`SplitData.on_device`); the trainer is a
wrapper model ``rows -> gather -> model`` that shares the model's layers and weights, so the
model itself is trained, saved and used as with the pipeline. (Elsewhere the batches are
gathered on the device before the step: :class:`mmtune.data.feed.Feed`.)

TensorFlow and Keras are imported at import time: this module is imported only for
``--feed device`` on TensorFlow.
"""

from __future__ import annotations

# ruff: noqa: E402  (TensorFlow is imported quietly first)
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mmtune import keras_backend

keras_backend.start()

import keras
import tensorflow as tf

if TYPE_CHECKING:
    import tensorflow

__all__ = ["RowGather", "device_trainer"]


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
    """A model taking row indices: gathers the rows of ``tensors`` (on the device already)
    there, then ``model``."""
    rows = keras.Input(shape=(), dtype="int32", name="rows")
    gathered = RowGather({name: tensors[name] for name in inputs}, name="row_gather")(rows)
    return keras.Model(rows, model(gathered), name="device_fed")
