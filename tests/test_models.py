"""The seed's networks rebuilt from plain values: sizes, parameters, compile, save/load."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from keras import layers

from mmtune.errors import MmtuneError
from mmtune.model.augment import augmentation_layers
from mmtune.model.layers import Standardize
from mmtune.model.networks import (
    MODEL_INPUTS,
    SEED_PARAMS,
    InputSpec,
    build_model,
    compile_model,
    make_optimizer,
)
from mmtune.search.space_files import load_space

SEED = InputSpec.seed()

# -- reference models, written layer for layer from the seed notebook ---------------------------

CONV = {"activation": "relu", "kernel_initializer": "he_uniform", "padding": "same"}


def seed_create_mlp():
    audio_inputs = keras.Input(shape=(104,))
    audio1 = layers.Dense(64, activation="relu")(audio_inputs)
    audio2 = layers.Dense(32, activation="relu")(audio1)
    audio3 = layers.Dense(16, activation="relu")(audio2)
    audio_outputs = layers.Dense(9, activation="softmax")(audio3)
    return keras.Model(inputs=audio_inputs, outputs=audio_outputs), audio_inputs, audio_outputs


def _seed_cnn_trunk(x_input):
    x = layers.AveragePooling2D((4, 4))(x_input)  # downscale to 64x64
    for filters, rate in ((32, 0.2), (64, 0.3), (128, 0.4)):
        x = layers.Conv2D(filters, (3, 3), **CONV)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Conv2D(filters, (3, 3), **CONV)(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D((2, 2))(x)
        x = layers.Dropout(rate)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", kernel_initializer="he_uniform")(x)
    x = layers.BatchNormalization()(x)
    return layers.Dropout(0.5)(x)


def seed_small_cnn():
    x_input = keras.Input((256, 256, 3))
    x = layers.Dense(9, activation="softmax")(_seed_cnn_trunk(x_input))
    return keras.Model(inputs=x_input, outputs=x, name="smallCNN"), x_input, x


def seed_multimodal_network():
    _, audio_input, audio_output = seed_create_mlp()
    _, image_input, image_output = seed_small_cnn()
    combined = layers.concatenate([audio_output, image_output])
    z = layers.Dense(15, activation="relu")(combined)
    output = layers.Dense(9, activation="softmax")(z)
    return keras.Model(inputs=[image_input, audio_input], outputs=output)


def seed_direct_mix():
    x_image_input = keras.Input((256, 256, 3))
    x = _seed_cnn_trunk(x_image_input)
    x_audio_input = keras.Input((104,))
    x1 = layers.Dense(256, activation="relu", kernel_initializer="he_uniform")(x_audio_input)
    x1 = layers.Dense(128, activation="relu", kernel_initializer="he_uniform")(x1)
    x = layers.concatenate([x, x1])
    output = layers.Dense(9, activation="softmax")(x)
    return keras.Model(inputs=[x_image_input, x_audio_input], outputs=output)


REFERENCES = {
    "direct_mix": seed_direct_mix,
    "split": seed_multimodal_network,
    "audio_mlp": lambda: seed_create_mlp()[0],
    "image_cnn": lambda: seed_small_cnn()[0],
}


def _weight_shapes(model) -> list[tuple[int, ...]]:
    return sorted(tuple(w.shape) for w in model.weights)


def _of(model, cls) -> list:
    return [layer for layer in model.layers if isinstance(layer, cls)]


def _defaults(name: str) -> dict:
    return load_space(name).defaults()


@pytest.mark.parametrize("name", sorted(MODEL_INPUTS))
def test_space_defaults_rebuild_the_seed_network(name):
    reference = REFERENCES[name]()
    model = build_model(name, _defaults(name), SEED)
    assert model.count_params() == reference.count_params()
    assert _weight_shapes(model) == _weight_shapes(reference)
    assert len(_of(model, layers.Conv2D)) == len(_of(reference, layers.Conv2D))
    assert [d.rate for d in _of(model, layers.Dropout)] == pytest.approx(
        [d.rate for d in _of(reference, layers.Dropout)]
    )


def test_seed_parameter_counts():
    counts = {name: build_model(name, {}, SEED).count_params() for name in MODEL_INPUTS}
    assert counts == {
        "direct_mix": 1_400_105,
        "split": 1_349_087,
        "audio_mlp": 9_481,
        "image_cnn": 1_339_177,
    }


@pytest.mark.parametrize("name", sorted(MODEL_INPUTS))
def test_inputs_are_named_and_typed(name):
    model = build_model(name, {}, SEED)
    inputs = {t.name: t for t in model.inputs}
    assert set(inputs) == set(MODEL_INPUTS[name])
    if "image" in inputs:
        assert inputs["image"].dtype == "uint8"
        assert tuple(inputs["image"].shape) == (None, 64, 64, 3)
    if "audio" in inputs:
        assert tuple(inputs["audio"].shape) == (None, 104)


@pytest.mark.parametrize("blocks", [1, 2, 4])
def test_conv_blocks_sets_the_number_of_conv_layers(blocks):
    model = build_model("image_cnn", {"conv_blocks": blocks}, SEED)
    assert len(_of(model, layers.Conv2D)) == 2 * blocks
    assert len(_of(model, layers.MaxPooling2D)) == blocks


def test_base_filters_doubles_per_block():
    model = build_model("image_cnn", {"base_filters": 16, "conv_blocks": 4}, SEED)
    assert [c.filters for c in _of(model, layers.Conv2D)] == [16, 16, 32, 32, 64, 64, 128, 128]


def test_dropouts_follow_start_and_step():
    model = build_model(
        "direct_mix",
        {"dropout_start": 0.1, "dropout_step": 0.15, "dense_dropout": 0.3, "conv_blocks": 4},
        SEED,
    )
    rates = {d.name: d.rate for d in _of(model, layers.Dropout)}
    assert rates == pytest.approx(
        {
            "dropout1": 0.1,
            "dropout2": 0.25,
            "dropout3": 0.4,
            "dropout4": 0.55,
            "image_dense_dropout": 0.3,
        }
    )


def test_bn_momentum_reaches_every_batchnorm():
    seed_model = build_model("direct_mix", {}, SEED)
    assert {bn.momentum for bn in _of(seed_model, layers.BatchNormalization)} == {0.99}
    model = build_model("split", {"bn_momentum": 0.9}, SEED)
    assert {bn.momentum for bn in _of(model, layers.BatchNormalization)} == {0.9}


def test_widths_set_the_dense_units():
    model = build_model(
        "direct_mix", {"dense_units": 64, "audio_units_1": 100, "audio_units_2": 50}, SEED
    )
    units = {d.name: d.units for d in _of(model, layers.Dense)}
    assert units == {"image_dense": 64, "audio_dense1": 100, "audio_dense2": 50, "softmax": 9}
    split = build_model(
        "split",
        {"audio_units_1": 8, "audio_units_2": 7, "audio_units_3": 6, "fusion_units": 20},
        SEED,
    )
    units = {d.name: d.units for d in _of(split, layers.Dense)}
    assert units["audio_dense1"] == 8 and units["audio_dense2"] == 7
    assert units["audio_dense3"] == 6 and units["fusion_dense"] == 20
    assert units["softmax"] == units["audio_softmax"] == units["image_softmax"] == 9


def test_augment_strength_adds_scaled_augmentation():
    assert augmentation_layers(0.0) == []
    plain = build_model("image_cnn", {"augment_strength": 0.0}, SEED)
    augmented = build_model("image_cnn", {"augment_strength": 1.0}, SEED)
    names = {layer.name for layer in augmented.layers} - {layer.name for layer in plain.layers}
    assert names == {"augment_flip", "augment_rotation", "augment_shift", "augment_zoom"}
    assert augmented.count_params() == plain.count_params()
    strong = {layer.name: layer for layer in augmentation_layers(1.5)}
    assert strong["augment_rotation"].factor == pytest.approx((-15 / 360, 15 / 360))
    assert strong["augment_shift"].height_factor == pytest.approx(0.15)
    with pytest.raises(ValueError, match="Received: augment_strength=-1"):
        augmentation_layers(-1)


def test_resolution_sets_the_input_shape():
    spec = dataclasses.replace(SEED, resolution=32)
    model = build_model("direct_mix", {"resolution": 32}, spec)
    assert tuple(model.get_layer("image").output.shape) == (None, 32, 32, 3)
    assert model.count_params() < build_model("direct_mix", {}, SEED).count_params()
    with pytest.raises(MmtuneError, match="resolution=32"):
        build_model("direct_mix", {"resolution": 32}, SEED)


def test_impossible_parameters_are_refused():
    tiny = dataclasses.replace(SEED, resolution=8)
    with pytest.raises(MmtuneError, match="conv_blocks=4"):
        build_model("image_cnn", {"conv_blocks": 4, "resolution": 8}, tiny)
    with pytest.raises(MmtuneError, match="dropout"):
        build_model("image_cnn", {"dropout_start": 0.5, "dropout_step": 0.3}, SEED)
    with pytest.raises(MmtuneError, match="Unknown model"):
        build_model("resnet", {}, SEED)
    with pytest.raises(MmtuneError, match="n_classes"):
        InputSpec(resolution=64, n_mfcc=104, n_classes=1)


def test_optimizer_and_learning_rate_reach_the_compiled_model():
    model = compile_model(
        build_model("audio_mlp", {}, SEED),
        {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.8},
    )
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert float(model.optimizer.momentum) == pytest.approx(0.8)
    model = compile_model(build_model("audio_mlp", {}, SEED), SEED_PARAMS["audio_mlp"])
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert model.loss.get_config()["from_logits"] is False
    with pytest.raises(MmtuneError, match="optimizer='lbfgs'"):
        make_optimizer({"optimizer": "lbfgs"})


def test_standardize_has_no_weights_and_standardizes():
    layer = Standardize([1.0, 2.0], [2.0, 0.0])
    out = np.asarray(layer(np.array([[3.0, 5.0]], "float32")))
    assert out.tolist() == [[1.0, 3.0]]
    assert layer.weights == []
    with pytest.raises(ValueError, match="len\\(std\\)=1"):
        Standardize([1.0, 2.0], [1.0])


def test_saved_model_with_standardize_and_augmentation_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    mean = tuple(rng.normal(size=104).tolist())
    std = tuple(rng.uniform(0.5, 2.0, size=104).tolist())
    spec = InputSpec(resolution=32, n_mfcc=104, n_classes=9, audio_mean=mean, audio_std=std)
    params = {"resolution": 32, "conv_blocks": 2, "augment_strength": 1.0}
    model = compile_model(build_model("direct_mix", params, spec), params)
    x = {
        "image": rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8),
        "audio": rng.normal(size=(4, 104)).astype("float32") * 5,
    }
    model.train_on_batch(x, np.arange(4, dtype="int32"))  # augmentation runs in training
    assert (
        model.count_params()
        == build_model(
            "direct_mix", params, dataclasses.replace(spec, audio_mean=None, audio_std=None)
        ).count_params()
    )
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("standardize"), Standardize)
    assert loaded.get_layer("standardize").mean == pytest.approx(mean)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_training_memory_grows_with_resolution_and_batch():
    """The estimate a search refuses configurations by: linear in the batch (its layer
    outputs), about 4x the activations for 4x the pixels, and the measured overhead."""
    from mmtune.model.networks import TRAINING_OVERHEAD_MB, training_memory_mb

    at64 = build_model("direct_mix", {}, SEED)
    at128 = build_model(
        "direct_mix", {"resolution": 128}, dataclasses.replace(SEED, resolution=128)
    )
    step64 = training_memory_mb(at64, 64) - training_memory_mb(at64, 32)
    assert training_memory_mb(at64, 96) - training_memory_mb(at64, 64) == pytest.approx(step64)
    step128 = training_memory_mb(at128, 64) - training_memory_mb(at128, 32)
    assert 3.5 < step128 / step64 < 4.5
    # measured (benchmarks/train_memory.py): 456 MB at 64 px, 919 MB at 128 px, batch 32
    assert 456 < training_memory_mb(at64, 32) < 456 + 100
    assert 919 < training_memory_mb(at128, 32) < 919 + 100
    assert training_memory_mb(at64, 1) > TRAINING_OVERHEAD_MB


def test_a_model_that_would_pass_the_memory_ceiling_is_refused_untrained(tmp_path):
    from searchkit import TINY_PARAMS, tiny_data

    from mmtune.data.trial_data import DataSource
    from mmtune.errors import ModelTooLarge
    from mmtune.model.training import TrainOptions, run_trial

    split = DataSource(tiny_data(tmp_path / "data")).get(16)
    with pytest.raises(ModelTooLarge, match="above --max-memory-mb 1: skipped untrained"):
        run_trial("direct_mix", TINY_PARAMS, split, TrainOptions(epochs=1, memory_ceiling_mb=1))
    result = run_trial(
        "direct_mix", TINY_PARAMS, split, TrainOptions(epochs=1, memory_ceiling_mb=1_000_000)
    )
    assert result.epochs == 1


def test_a_training_traces_its_step_once_and_keeps_its_best_epochs_probabilities(
    tmp_path, traced, monkeypatch
):
    """Keras makes the optimizer's and metrics' variables inside the first trace, which made
    TensorFlow trace every trial's training step twice; the trainer builds them first. The
    probabilities kept are the best epoch's: they score its validation accuracy."""
    from searchkit import TINY_PARAMS, tiny_data

    from mmtune.data.trial_data import DataSource
    from mmtune.model import training
    from mmtune.model.training import TrainOptions, train_model

    traces = []
    step = keras.Model.train_step
    monkeypatch.setattr(
        keras.Model, "train_step", lambda self, data: traces.append(1) or step(self, data)
    )
    split = DataSource(tiny_data(tmp_path / "data")).get(16)
    options = TrainOptions(epochs=3, keep_val_probabilities=True)
    result = train_model("direct_mix", TINY_PARAMS, split, options, seed=0)
    assert len(traces) == 1
    assert result.epochs == 3 and result.val_probabilities is not None
    labels = split.data.train_labels[split.val_idx]
    assert np.array_equal(result.val_labels, labels)
    assert result.val_probabilities.shape == (len(labels), 3)
    accuracy = np.mean(result.val_probabilities.argmax(axis=1) == labels)
    assert accuracy == pytest.approx(result.best_val_accuracy, abs=1e-6)
    assert result.best_val_accuracy == max(result.curves["val_accuracy"])
    # Built inside the trace, as Keras would: traced twice, and the very same training.
    monkeypatch.setattr(training, "_build_before_tracing", lambda *args: None)
    traces.clear()
    again = train_model("direct_mix", TINY_PARAMS, split, options, seed=0)
    assert len(traces) == 2
    assert again.curves == result.curves


def test_validation_by_prediction_gives_keras_evaluate_figures(tmp_path):
    """The trainer validates by one prediction pass; its loss and accuracy are the ones
    Keras' ``evaluate`` gives for the compiled loss and metric."""
    from searchkit import TINY_PARAMS

    from mmtune.model.callbacks import validation_figures
    from mmtune.model.networks import compile_model

    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((5,)), layers.Dense(4, activation="softmax")])
    compile_model(model, dict(TINY_PARAMS))
    x = rng.normal(size=(50, 5)).astype("float32")
    y = rng.integers(0, 4, size=50)
    loss, accuracy = model.evaluate(x, y, batch_size=16, verbose=0)
    ours = validation_figures(model.predict(x, verbose=0), y)
    assert ours == pytest.approx((loss, accuracy), rel=1e-5)
    assert validation_figures(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0, 0]))[0] == (
        pytest.approx(-np.log(1e-7) / 2, rel=1e-6)
    )
    nan = validation_figures(np.array([[np.nan, np.nan]]), np.array([1]))
    assert not np.isfinite(nan[0])
