"""Precise BatchNorm statistics: what validation and a saved model see is the trained network."""

from __future__ import annotations

import numpy as np
import pytest
from searchkit import TINY_PARAMS, tiny_data

from mmtune.model.batchnorm import batchnorm_layers, recompute_statistics


def _bn_model(momentum: float = 0.99):
    import keras

    inputs = keras.Input(shape=(3,), name="audio")
    x = keras.layers.BatchNormalization(momentum=momentum, name="bn")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x))


def test_recomputed_statistics_are_the_mean_of_batch_statistics():
    model = _bn_model()
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=k, scale=1 + k, size=(16, 3)).astype("float32") for k in range(4)]
    assert recompute_statistics(model, batches) == 4
    bn = model.get_layer("bn")
    np.testing.assert_allclose(
        bn.moving_mean.numpy(), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5
    )
    np.testing.assert_allclose(
        bn.moving_variance.numpy(), np.mean([b.var(0) for b in batches], 0), rtol=1e-4
    )
    assert bn.momentum == 0.99, "the layer's momentum is restored"


def test_nothing_changes_without_batches_or_batchnorm():
    import keras

    model = _bn_model()
    assert recompute_statistics(model, []) == 0
    assert np.all(model.get_layer("bn").moving_mean.numpy() == 0)
    plain = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    assert batchnorm_layers(plain) == [] and recompute_statistics(plain, [np.ones((2, 3))]) == 0


def test_nested_models_are_reached():
    import keras

    inner = _bn_model()
    outer = keras.Model(inner.inputs, inner(inner.inputs))
    assert [layer.name for layer in batchnorm_layers(outer)] == ["bn"]


@pytest.mark.parametrize("full", [False, True])
def test_a_trained_model_carries_the_statistics_its_validation_used(tmp_path, full):
    """With Keras' momentum 0.99 and a few steps, the moving statistics would still be near
    their initial 0 / 1; the trainer leaves the model with the training rows' statistics, and
    its recorded validation accuracy is what the returned model scores."""
    from mmtune.data.trial_data import DataSource
    from mmtune.model.training import TrainOptions, train_model
    from mmtune.refit.prediction import predict_probabilities

    split = DataSource(tiny_data(tmp_path / "data")).get(16)
    params = {**TINY_PARAMS, "bn_momentum": 0.99}
    result = train_model("direct_mix", params, split, TrainOptions(epochs=2), seed=0, full=full)
    bn = result.model.get_layer("conv1_1_bn")
    assert np.abs(bn.moving_mean.numpy()).max() > 0.05, "statistics were recomputed"
    if not full:
        images, mfcc, labels = split.part("val")
        predicted = predict_probabilities(result.model, images, mfcc).argmax(axis=1)
        assert float((predicted == labels).mean()) == pytest.approx(
            result.curves["val_accuracy"][-1], abs=1e-6
        )
