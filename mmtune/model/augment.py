"""Picture augmentation as Keras preprocessing layers, scaled by one knob.

They sit inside the model, run on the device, and are active only in training
(Keras' random preprocessing layers pass inputs through at inference). Keras 3
has no ``ImageDataGenerator``; ``strength=1.0`` reproduces the seed's "on"
setting: ``rotation_range=10`` degrees, ``width_shift_range=0.1``,
``height_shift_range=0.1``, ``zoom_range=0.1``, ``horizontal_flip=True``,
``fill_mode="nearest"``.
"""

from __future__ import annotations

import math

import keras

__all__ = ["augmentation_layers", "SEED_ROTATION_DEGREES", "SEED_SHIFT", "SEED_ZOOM"]

SEED_ROTATION_DEGREES = 10.0
SEED_SHIFT = 0.1
SEED_ZOOM = 0.1
MAX_STRENGTH = 5.0  # 50 degrees, 50% shift and zoom: beyond this the picture is mostly fill


def augmentation_layers(strength: float, seed: int | None = None) -> list[keras.layers.Layer]:
    """The augmentation layers for ``strength`` (0 = none, 1 = the seed's "on").

    Rotation, shift and zoom ranges scale linearly with ``strength``; the
    horizontal flip is on for any ``strength > 0``.

    Example:

    >>> [layer.__class__.__name__ for layer in augmentation_layers(1.0)]
    ['RandomFlip', 'RandomRotation', 'RandomTranslation', 'RandomZoom']
    >>> augmentation_layers(0.0)
    []
    """
    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not (math.isfinite(strength) and 0.0 <= strength <= MAX_STRENGTH)
    ):
        raise ValueError(
            f"Expected a float between 0 and {MAX_STRENGTH:g}. "
            f"Received: augment_strength={strength!r}"
        )
    if strength == 0:
        return []
    s = float(strength)
    rotation = SEED_ROTATION_DEGREES * s / 360.0  # RandomRotation's factor is a fraction of 2*pi
    shift = SEED_SHIFT * s
    zoom = SEED_ZOOM * s
    return [
        keras.layers.RandomFlip("horizontal", seed=seed, name="augment_flip"),
        keras.layers.RandomRotation(
            rotation, fill_mode="nearest", seed=seed, name="augment_rotation"
        ),
        keras.layers.RandomTranslation(
            shift, shift, fill_mode="nearest", seed=seed, name="augment_shift"
        ),
        # ImageDataGenerator draws the x and y zoom independently in [1 - z, 1 + z].
        keras.layers.RandomZoom(
            (-zoom, zoom), (-zoom, zoom), fill_mode="nearest", seed=seed, name="augment_zoom"
        ),
    ]
