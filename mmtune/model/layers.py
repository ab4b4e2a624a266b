"""Serializable layers without weights.

``Standardize`` keeps the audio statistics of the training part as constants in
its config, so a saved ``.keras`` model standardizes raw MFCCs by itself and
its parameter count is the seed network's. It also keeps the names of the MFCC
columns it was fitted on, in their order: ``mmtune predict`` lines a data set's
columns up with them by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

__all__ = ["Standardize"]


@keras.saving.register_keras_serializable(package="mmtune")
class Standardize(keras.layers.Layer):
    """``(x - mean) / std`` per feature, with constants and no weights.

    A feature whose ``std`` is 0 (a constant column) is only centred: dividing
    by 1 instead keeps unseen test values finite.

    Example:

    >>> layer = Standardize(mean=[1.0, 2.0], std=[2.0, 0.0])
    >>> [float(v) for v in layer(np.array([[3.0, 5.0]], "float32"))[0]]
    [1.0, 3.0]
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        columns: Sequence[str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        mean_arr = np.asarray(mean, dtype="float64").reshape(-1)
        std_arr = np.asarray(std, dtype="float64").reshape(-1)
        if mean_arr.shape != std_arr.shape or mean_arr.size == 0:
            raise ValueError(
                "Expected `mean` and `std` of the same, non-zero length. "
                f"Received: len(mean)={mean_arr.size}, len(std)={std_arr.size}"
            )
        if not (np.all(np.isfinite(mean_arr)) and np.all(np.isfinite(std_arr))):
            raise ValueError("Expected finite `mean` and `std`. Received non-finite values.")
        if np.any(std_arr < 0):
            raise ValueError(f"Expected `std` >= 0. Received: min(std)={std_arr.min()}")
        if columns is not None and len(columns) != mean_arr.size:
            raise ValueError(
                f"Expected one column name per feature. Received: {len(columns)} names "
                f"for {mean_arr.size} features"
            )
        self.columns = tuple(str(c) for c in columns) if columns is not None else None
        self.mean = tuple(float(v) for v in mean_arr)
        self.std = tuple(float(v) for v in std_arr)
        self._scale = np.where(std_arr > 0, std_arr, 1.0).astype("float32")
        self._mean = mean_arr.astype("float32")

    def call(self, inputs):
        x = keras.ops.cast(inputs, self.compute_dtype)
        return (x - keras.ops.convert_to_tensor(self._mean, self.compute_dtype)) / (
            keras.ops.convert_to_tensor(self._scale, self.compute_dtype)
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"mean": list(self.mean), "std": list(self.std)})
        if self.columns is not None:
            config["columns"] = list(self.columns)
        return config
