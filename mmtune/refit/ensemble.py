"""One model file for an ensemble: the members side by side, their probabilities averaged.

A refit of several seeds of one configuration (the default, ``--seeds 3``) or of
configurations that take the same inputs is written as a single ``model.keras``:
a Keras model whose inputs feed every member and whose output is the mean of
their class probabilities, exactly the submission's rule. ``mmtune predict``
then needs one file whatever the refit was. Keras is imported only when this runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

__all__ = ["averaging_model", "same_inputs"]


def _input_shapes(model: keras.Model) -> dict[str, tuple[int | None, ...]]:
    return {t.name: tuple(t.shape) for t in model.inputs}


def same_inputs(models: Sequence[keras.Model]) -> bool:
    """True when every model takes the same named inputs with the same shapes."""
    shapes = [_input_shapes(m) for m in models]
    return all(s == shapes[0] for s in shapes[1:])


def averaging_model(models: Sequence[keras.Model], names: Sequence[str]) -> keras.Model:
    """A model that feeds its inputs to every one of ``models`` (renamed ``names``, which must
    be unique) and outputs the mean of their probabilities."""
    import keras

    if not models or len(names) != len(models) or len(set(names)) != len(names):
        raise ValueError(f"Expected one unique name per model. Received: names={list(names)}")
    if not same_inputs(models):
        raise ValueError("Expected models with the same named inputs and shapes.")
    inputs = {
        t.name: keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype, name=t.name)
        for t in models[0].inputs
    }
    for model, name in zip(models, names):
        model.name = name
    outputs = [model(inputs) for model in models]
    mean = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean")(outputs)
    return keras.Model(inputs, mean, name="ensemble")
