"""The seed notebook's network family, built from plain values.

``build_model(model_name, params, spec)`` takes a dict of plain Python values
(what a search space samples) and the data's shapes; no Keras Tuner ``hp`` or
Optuna ``trial`` ever reaches this module. A parameter missing from ``params``
takes the seed's value (``SEED_PARAMS``), so a user's space may fix a
parameter by leaving it out.

Models take the raw cached tensors: ``image`` (uint8, rescaled inside the
model, then augmented in training only) and ``audio`` (raw MFCCs, standardized
inside the model when the spec carries statistics). The seed's
``AveragePooling2D((4, 4))`` on 256x256 pictures is replaced by the cache's
area-resize to 64x64: the same tensor, no parameters.

TensorFlow/Keras is imported only when a model is built or compiled, so
``MODEL_INPUTS`` and ``SEED_PARAMS`` are cheap to import.

Example:

>>> model = build_model("direct_mix", {}, InputSpec.seed())
>>> model.count_params()
1400105
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmtune.data.trial_data import InputSpec
from mmtune.errors import MmtuneError
from mmtune.model.params import Params, ParamValue

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "InputSpec",
    "MODEL_INPUTS",
    "SEED_PARAMS",
    "SEED_RESOLUTION",
    "OPTIONAL_PARAMS",
    "OPTIMIZERS",
    "build_model",
    "check_params",
    "compile_model",
    "macs_budget",
    "model_macs",
    "training_memory_mb",
]

MODEL_INPUTS: dict[str, tuple[str, ...]] = {
    "direct_mix": ("image", "audio"),
    "split": ("image", "audio"),
    "audio_mlp": ("audio",),
    "image_cnn": ("image",),
}

#: The seed's picture side after its AveragePooling2D((4, 4)) of 256x256: the default cache.
SEED_RESOLUTION = 64

_CNN_SEED: dict[str, ParamValue] = {
    "conv_blocks": 3,
    "base_filters": 32,
    "dropout_start": 0.2,
    "dropout_step": 0.1,
    "dense_units": 128,
    "dense_dropout": 0.5,
    "augment_strength": 0.0,
    "resolution": SEED_RESOLUTION,
    # Keras' default, as the seed. Its value no longer matters for what a trial measures: the
    # trainer recomputes BatchNorm's statistics before every validation (mmtune.model.batchnorm).
    "bn_momentum": 0.99,
}
_MLP_SEED: dict[str, ParamValue] = {"audio_units_1": 64, "audio_units_2": 32, "audio_units_3": 16}
_TRAIN_SEED: dict[str, ParamValue] = {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32}

#: The seed notebook's value of every parameter each family understands.
SEED_PARAMS: dict[str, dict[str, ParamValue]] = {
    "direct_mix": {**_CNN_SEED, "audio_units_1": 256, "audio_units_2": 128, **_TRAIN_SEED},
    "split": {**_CNN_SEED, **_MLP_SEED, "fusion_units": 15, **_TRAIN_SEED},
    # The seed trains its audio MLP with RMSprop (default rate 1e-3) and batches of 16.
    "audio_mlp": {**_MLP_SEED, "optimizer": "rmsprop", "learning_rate": 1e-3, "batch_size": 16},
    "image_cnn": {**_CNN_SEED, **_TRAIN_SEED},
}

#: Parameters every family accepts beyond the seed's (no seed value).
OPTIONAL_PARAMS: dict[str, ParamValue] = {"momentum": 0.0}

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd", "nadam")


def _resolve(model_name: str, params: Params, spec: InputSpec) -> dict[str, ParamValue]:
    """The seed's values overridden by ``params``, checked for what a model can be."""
    if model_name not in MODEL_INPUTS:
        raise MmtuneError(
            f"Unknown model {model_name!r}. Expected one of: {', '.join(MODEL_INPUTS)}"
        )
    values = {**SEED_PARAMS[model_name], **OPTIONAL_PARAMS, **dict(params)}
    if "image" not in MODEL_INPUTS[model_name]:
        return values
    if values.get("resolution", spec.resolution) != spec.resolution:
        raise MmtuneError(
            f"The parameters ask for resolution={values['resolution']} but the data is cached "
            f"at {spec.resolution}: build the InputSpec at the trial's resolution."
        )
    blocks = _positive_int(values, "conv_blocks")
    _positive_int(values, "base_filters")
    _positive_int(values, "dense_units")
    if spec.resolution // 2**blocks < 1:
        raise MmtuneError(
            f"conv_blocks={blocks} halves a {spec.resolution}x{spec.resolution} picture "
            f"below 1 pixel: at most {spec.resolution.bit_length() - 1} blocks fit this resolution."
        )
    for block in range(blocks):
        _rate(
            _block_dropout(values, block),
            f"dropout of conv block {block + 1} (dropout_start + {block} * dropout_step)",
        )
    _rate(values["dense_dropout"], "dense_dropout")
    _rate(values["bn_momentum"], "bn_momentum")
    return values


def check_params(model_name: str, params: Params) -> None:
    """Raise :class:`MmtuneError` when no ``model_name`` network has these values (more conv
    blocks than the resolution can halve, a block's dropout rate >= 1, ...); no TensorFlow."""
    seed_resolution = SEED_PARAMS.get(model_name, {}).get("resolution", SEED_RESOLUTION)
    resolution = params.get("resolution", seed_resolution)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise MmtuneError(f"Expected a positive integer. Received: resolution={resolution!r}")
    _resolve(model_name, params, InputSpec(resolution=resolution, n_mfcc=1, n_classes=2))


def _positive_int(values: Params, name: str) -> int:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MmtuneError(f"Expected a positive integer. Received: {name}={value!r}")
    return value


def _rate(value: ParamValue, what: str) -> float:
    if not 0.0 <= float(value) < 1.0:
        raise MmtuneError(f"Expected a float in [0, 1). Received: {what}={value!r}")
    return float(value)


def _block_dropout(values: Params, block: int) -> float:
    return round(float(values["dropout_start"]) + block * float(values["dropout_step"]), 10)


def _image_features(image_input, values: Params):
    """The seed's CNN: rescale, augment, conv blocks; then Flatten-Dense-BN-Dropout."""
    from keras import layers

    from mmtune.model.augment import augmentation_layers

    conv = {"activation": "relu", "kernel_initializer": "he_uniform", "padding": "same"}
    x = layers.Rescaling(1.0 / 255, name="rescale")(image_input)
    for layer in augmentation_layers(float(values["augment_strength"])):
        x = layer(x)
    for block in range(_positive_int(values, "conv_blocks")):
        filters = _positive_int(values, "base_filters") * 2**block
        for i in (1, 2):
            x = layers.Conv2D(filters, (3, 3), **conv, name=f"conv{block + 1}_{i}")(x)
            x = layers.BatchNormalization(
                momentum=float(values["bn_momentum"]), name=f"conv{block + 1}_{i}_bn"
            )(x)
        x = layers.MaxPooling2D((2, 2), name=f"pool{block + 1}")(x)
        x = layers.Dropout(_block_dropout(values, block), name=f"dropout{block + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(
        _positive_int(values, "dense_units"),
        activation="relu",
        kernel_initializer="he_uniform",
        name="image_dense",
    )(x)
    x = layers.BatchNormalization(momentum=float(values["bn_momentum"]), name="image_dense_bn")(x)
    x = layers.Dropout(float(values["dense_dropout"]), name="image_dense_dropout")(x)
    return x


def _audio_input(spec: InputSpec):
    """The ``audio`` input and its standardized tensor."""
    import keras

    from mmtune.model.layers import Standardize

    audio_input = keras.Input(shape=(spec.n_mfcc,), dtype="float32", name="audio")
    x = audio_input
    if spec.audio_mean is not None and spec.audio_std is not None:
        x = Standardize(
            spec.audio_mean, spec.audio_std, columns=spec.mfcc_columns, name="standardize"
        )(x)
    return audio_input, x


def _image_input(spec: InputSpec):
    import keras

    return keras.Input(shape=(spec.resolution, spec.resolution, 3), dtype="uint8", name="image")


def _mlp(x, values: Params, n_classes: int, prefix: str):
    """The seed's audio MLP: 64-32-16 ReLU, then a C-way softmax."""
    from keras import layers

    for i in (1, 2, 3):
        x = layers.Dense(
            _positive_int(values, f"audio_units_{i}"), activation="relu", name=f"{prefix}_dense{i}"
        )(x)
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name=f"{prefix}_softmax")(
        x
    )


def _build_direct_mix(values, spec):
    import keras
    from keras import layers

    image_input = _image_input(spec)
    audio_input, audio = _audio_input(spec)
    image = _image_features(image_input, values)
    for i in (1, 2):
        audio = layers.Dense(
            _positive_int(values, f"audio_units_{i}"),
            activation="relu",
            kernel_initializer="he_uniform",
            name=f"audio_dense{i}",
        )(audio)
    x = layers.Concatenate(name="fusion")([image, audio])
    output = layers.Dense(spec.n_classes, activation="softmax", dtype="float32", name="softmax")(x)
    return keras.Model({"image": image_input, "audio": audio_input}, output, name="direct_mix")


def _build_split(values, spec):
    import keras
    from keras import layers

    image_input = _image_input(spec)
    audio_input, audio = _audio_input(spec)
    audio_probs = _mlp(audio, values, spec.n_classes, "audio")
    image = _image_features(image_input, values)
    image_probs = layers.Dense(
        spec.n_classes, activation="softmax", dtype="float32", name="image_softmax"
    )(image)
    x = layers.Concatenate(name="fusion")([audio_probs, image_probs])
    x = layers.Dense(_positive_int(values, "fusion_units"), activation="relu", name="fusion_dense")(
        x
    )
    output = layers.Dense(spec.n_classes, activation="softmax", dtype="float32", name="softmax")(x)
    return keras.Model({"image": image_input, "audio": audio_input}, output, name="split")


def _build_audio_mlp(values, spec):
    import keras

    audio_input, audio = _audio_input(spec)
    output = _mlp(audio, values, spec.n_classes, "audio")
    return keras.Model({"audio": audio_input}, output, name="audio_mlp")


def _build_image_cnn(values, spec):
    import keras
    from keras import layers

    image_input = _image_input(spec)
    image = _image_features(image_input, values)
    output = layers.Dense(spec.n_classes, activation="softmax", dtype="float32", name="softmax")(
        image
    )
    return keras.Model({"image": image_input}, output, name="image_cnn")


def build_model(model_name: str, params: Params, spec: InputSpec) -> keras.Model:
    """Build the ``model_name`` family's network from plain values (not compiled).

    Args:
        model_name: one of ``MODEL_INPUTS`` (``direct_mix``, ``split``,
            ``audio_mlp``, ``image_cnn``).
        params: plain Python values; missing names take the seed's value,
            names the family does not use (``batch_size``...) are ignored.
        spec: the data's shapes (and audio statistics).

    Raises:
        MmtuneError: unknown family, or parameters no network can have (more
            conv blocks than the resolution can halve, a dropout rate >= 1...).
    """
    values = _resolve(model_name, params, spec)
    builders = {
        "direct_mix": _build_direct_mix,
        "split": _build_split,
        "audio_mlp": _build_audio_mlp,
        "image_cnn": _build_image_cnn,
    }
    return builders[model_name](values, spec)


def make_optimizer(params: Params) -> keras.optimizers.Optimizer:
    """The optimizer named by ``params["optimizer"]`` at ``params["learning_rate"]``.

    ``momentum`` is read for ``sgd`` only (default 0, Keras' own default).
    """
    import keras

    name = str(params.get("optimizer", "adam")).lower()
    rate = float(params.get("learning_rate", 1e-3))
    if not rate > 0:
        raise MmtuneError(f"Expected a positive float. Received: learning_rate={rate!r}")
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
        "nadam": keras.optimizers.Nadam,
    }
    if name not in classes:
        raise MmtuneError(
            f"Unknown optimizer. Expected one of: {', '.join(OPTIMIZERS)}. "
            f"Received: optimizer={params.get('optimizer')!r}"
        )
    if name == "sgd":
        return classes[name](learning_rate=rate, momentum=float(params.get("momentum", 0.0)))
    return classes[name](learning_rate=rate)


def macs_budget(
    model_name: str, defaults: Params, spec: InputSpec, max_cost: float | None
) -> int | None:
    """``--max-cost`` in multiply-accumulates a sample: ``max_cost`` times the default
    configuration's (None: no limit)."""
    if not max_cost:
        return None
    from mmtune.keras_backend import clear_keras_session

    budget = int(max_cost * model_macs(build_model(model_name, defaults, spec)))
    clear_keras_session()
    return budget


def model_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one sample's forward pass through the kernels (Conv2D, Dense):
    a device-independent measure of a configuration's training cost."""
    import math

    total = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        shape = tuple(layer.output.shape)
        positions = math.prod(int(d) for d in shape[1:-1]) if len(shape) > 2 else 1
        total += positions * math.prod(int(d) for d in kernel.shape)
    return int(total)


#: What the first training in a process needs beyond its tensors (TensorFlow's traced
#: functions, thread pools, oneDNN's kernels), and how far the tensors' sum undercounts:
#: fitted to 7 configurations (32-128 px, batch 16-64) trained through mmtune's trainer on
#: a CPU, need = 238 + 1.15 x tensors (residuals -72..+56 MB), with the overhead raised to
#: cover them all (``benchmarks/train_memory.py``).
TRAINING_OVERHEAD_MB = 300.0
TENSOR_FACTOR = 1.15


def training_memory_mb(model: keras.Model, batch_size: int) -> float:
    """The memory (MB) training ``model`` on batches of ``batch_size`` needs above what the
    process holds before it: :data:`TRAINING_OVERHEAD_MB`, plus :data:`TENSOR_FACTOR` times
    every layer's output for a batch (float32, kept for the backward pass) and the weights
    four times over (the weights, their gradients and two optimizer slots)."""
    import math

    outputs = 0
    for layer in model.layers:
        shape = getattr(layer.output, "shape", None)
        if shape is None or len(shape) < 2:
            continue
        outputs += math.prod(int(d) for d in shape[1:] if d is not None)
    tensors = (outputs * int(batch_size) + 4 * model.count_params()) * 4
    return TRAINING_OVERHEAD_MB + TENSOR_FACTOR * tensors / 2**20


def compile_model(
    model: keras.Model, params: Params, jit_compile: bool | str = "auto"
) -> keras.Model:
    """Compile ``model`` with the optimizer of ``params``; returns the same model.

    The loss is ``SparseCategoricalCrossentropy(from_logits=False)``: every
    family ends in a softmax. The seed notebook passes ``from_logits=True`` on
    that softmax output, which applies a second softmax inside the loss (a
    flattened, wrong loss and gradient); that bug is fixed here.
    ``compile`` is called with keywords only: its third positional argument is
    ``loss_weights``, not ``metrics``. ``jit_compile``: XLA on (True), off (False) or
    Keras' choice ("auto"); under ``MMTUNE_EAGER`` on JAX, no step is compiled
    (:func:`mmtune.keras_backend.run_eagerly`).
    """
    import keras

    from mmtune.keras_backend import run_eagerly

    eager = run_eagerly()
    model.compile(
        optimizer=make_optimizer(params),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
        metrics=["accuracy"],
        jit_compile=False if eager else jit_compile,
        run_eagerly=eager,
    )
    return model
