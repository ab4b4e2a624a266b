"""Precise BatchNorm statistics: recomputed from the training part before every measurement.

BatchNorm normalizes a training batch by its own statistics, but at inference
by moving averages updated with ``momentum`` (Keras' and the seed's 0.99).
After the few hundred steps of a short trial on a small data set, 0.99 leaves
those averages mostly at their initial values, so validation measures another
network than the one trained: the seed's network then scored 0.40-0.50 on
data a linear model separates, and its curve jumped 0.10 -> 0.79 -> 0.28.

Here the moving statistics are not trusted: before each validation (and once
after a refit's last epoch) every BatchNorm layer's mean and variance are
recomputed as the average of its batch statistics over a fixed sample of
training rows, in training mode, as the layers saw them while learning
("precise BN", Wu and Johnson 2021). No configuration can then be measured
through stale statistics, whatever its momentum, batch size or step count.

Keras is imported only when these functions run; the module itself is cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from mmtune.keras_backend import Forward, forward_pass

if TYPE_CHECKING:
    import keras

__all__ = ["STATISTICS_ROWS", "batchnorm_layers", "recompute_statistics"]

#: Training rows whose batch statistics are averaged (all of them when the part is smaller):
#: a forward pass over 256 rows costs about a tenth of an epoch of 500 rows, and estimates
#: each channel's mean to within a sixteenth of its spread.
STATISTICS_ROWS = 256


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every ``BatchNormalization`` layer of ``model``, nested models included."""
    import keras

    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def recompute_statistics(
    model: keras.Model, batches: Iterable[object], forward: Forward | None = None
) -> int:
    """Set each BatchNorm layer's moving mean/variance to the mean of its batch statistics.

    ``batches`` yields model inputs (or ``(inputs, labels)`` pairs); ``forward`` is a
    compiled ``model(x, training=True)`` (:func:`mmtune.keras_backend.forward_pass`), made here
    when not given; it is only ever called (and so traced) while the layers' momentum is 0.
    Returns the batches used (0: the model has no BatchNorm layer, or there was no batch; the
    statistics are then unchanged).
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    sums_mean = [np.zeros(layer.moving_mean.shape, np.float64) for layer in layers]
    sums_var = [np.zeros(layer.moving_variance.shape, np.float64) for layer in layers]
    backup = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in layers]
    count = 0
    try:
        for layer in layers:
            layer.momentum = 0.0  # a training-mode call then leaves its batch's statistics
        forward = forward or forward_pass(model)
        for batch in batches:
            inputs = batch[0] if isinstance(batch, tuple) else batch
            forward(inputs)
            for k, layer in enumerate(layers):
                sums_mean[k] += layer.moving_mean.numpy()
                sums_var[k] += layer.moving_variance.numpy()
            count += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    for k, layer in enumerate(layers):
        mean, var = (sums_mean[k] / count, sums_var[k] / count) if count else backup[k]
        layer.moving_mean.assign(np.asarray(mean, np.float32))
        layer.moving_variance.assign(np.asarray(var, np.float32))
    return count
