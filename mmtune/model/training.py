"""One trial's training: build the model from plain values, fit it, report each epoch.

Tuner backends call :func:`run_trial`; it knows nothing of Keras Tuner or
Optuna. A NaN loss or an out-of-memory error raises :class:`TrialFailed`,
which the backends record as a failed trial before going on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmtune.data.trial_data import InputSpec, SplitData
from mmtune.errors import ModelTooLarge, OverMemoryCeiling, TrialFailed
from mmtune.model.params import Params
from mmtune.process_memory import rss_mb

if TYPE_CHECKING:
    from collections.abc import Iterable

    import keras

    from mmtune.data.feed import Feed
    from mmtune.model.callbacks import EpochReport, Validate

__all__ = [
    "refuse_if_untrainable",
    "EVAL_BATCH",
    "eval_batch",
    "TrainOptions",
    "TrialResult",
    "run_trial",
    "train_model",
    "curves_summary",
]

#: Rows a validation or prediction batch holds. Small on purpose: at 64 px one batch of 256
#: holds a 134 MB activation per convolution of the seed's first block, and several at once
#: raised a competition-sized search's peak memory by 250 MB; on a CPU 64 is as fast.
EVAL_BATCH = 64


def eval_batch(rows: int) -> int:
    """The validation batch for ``rows`` rows: all of them in one batch up to twice
    ``EVAL_BATCH`` (one shape, so the step is traced once), else ``EVAL_BATCH``."""
    return max(1, rows) if rows <= 2 * EVAL_BATCH else EVAL_BATCH


@dataclass(frozen=True)
class TrainOptions:
    """How every model of a search (or a refit) trains; built once and passed to each.

    ``epochs``: at most this many; ``patience`` > 0 ends training after that many epochs
    without a better validation accuracy, or at a perfect one (the best epoch is what refit
    uses, so the epochs after it only cost time); a model above ``max_params`` parameters or
    ``max_macs`` multiply-accumulates a sample, or whose training would take the process's
    resident memory past ``memory_ceiling_mb`` (its estimate:
    :func:`~mmtune.model.networks.training_memory_mb`), raises :class:`ModelTooLarge` untrained;
    ``keep_val_probabilities``: the result carries the validation part's class probabilities
    at the best epoch (a search's evaluations: their average is the seed average's figure);
    ``jit_compile``: XLA on, off or Keras' choice; ``feed``: ``pipeline`` (batches gathered on
    the host from the cache) or ``device`` (the data on the training device): see
    :mod:`mmtune.data.feed`.
    """

    epochs: int
    patience: int = 0
    jit_compile: bool | str = "auto"
    feed: str = "pipeline"
    max_params: int | None = None
    max_macs: int | None = None
    memory_ceiling_mb: int | None = None
    keep_val_probabilities: bool = False


@dataclass
class TrialResult:
    """What one trial's training gave."""

    curves: dict[str, list[float]]
    best_epoch: int
    best_val_accuracy: float
    val_loss: float
    epochs: int
    duration_s: float
    params_count: int
    validation_s: float = 0.0  # of duration_s: precise BatchNorm and the validation pass
    model: Any = field(default=None, repr=False)
    # With ``keep_val_probabilities``: (validation rows, classes) at the best epoch, and the
    # validation part's labels in the same order.
    val_probabilities: np.ndarray | None = field(default=None, repr=False)
    val_labels: np.ndarray | None = field(default=None, repr=False)


def curves_summary(curves: dict[str, list[float]]) -> tuple[int, float, float]:
    """``(best_epoch, best_val_accuracy, val_loss at that epoch)``; epochs are 1-based.

    Ties go to the earliest epoch (fewer epochs to refit for the same accuracy).
    """
    acc = curves.get("val_accuracy") or []
    if not acc:
        return 0, float("nan"), float("nan")
    best = max(range(len(acc)), key=lambda i: (acc[i], -i))
    losses = curves.get("val_loss") or []
    return best + 1, float(acc[best]), float(losses[best]) if best < len(losses) else float("nan")


def train_model(
    model_name: str,
    params: Params,
    split: SplitData,
    options: TrainOptions,
    *,
    seed: int = 0,
    full: bool = False,
    report: EpochReport | None = None,
    on_model: Callable[[keras.Model], None] | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    initial_epoch: int = 0,
    initial_weights: str | Path | None = None,
) -> TrialResult:
    """Build ``model_name`` from ``params`` and fit it on ``split`` as ``options`` say.

    ``full=True`` trains on every labelled row (refit) and validates on none.
    ``report`` sees each epoch's logs; ``on_model`` the model as soon as it is built (to
    record its size); ``callbacks`` join the trainer's own.
    ``initial_epoch`` / ``initial_weights`` continue an earlier run (Hyperband).
    """
    epochs, patience = options.epochs, options.patience
    from mmtune import keras_backend

    keras_backend.start()
    import keras

    from mmtune.data.feed import Feed
    from mmtune.model.batchnorm import recompute_statistics
    from mmtune.model.callbacks import ReportEpochs
    from mmtune.model.networks import MODEL_INPUTS, build_model, compile_model

    started = time.perf_counter()
    spec = split.input_spec(full=full)
    inputs = MODEL_INPUTS[model_name]
    batch_size = int(params.get("batch_size", 32))
    refuse_if_untrainable(model_name, params, spec, options, on_model)
    keras.utils.set_random_seed(seed)
    model = build_model(model_name, params, spec)
    if on_model is not None and not _has_limits(options):
        on_model(model)
    feed = Feed(split, inputs, options.feed)
    train_ds = _training_batches(feed, _training_rows(split, full), batch_size, seed)
    stats_ds = _statistics_batches(feed, full=full, batch_size=batch_size, seed=seed)
    trainer = feed.trainer(model)
    compile_model(trainer, params, jit_compile=options.jit_compile)
    _build_before_tracing(trainer, train_ds)
    if initial_weights:
        model.load_weights(str(initial_weights))
    history: dict[str, list[float]] = {}

    def collect(epoch: int, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        if report is not None:
            report(epoch, logs)

    validate = None if full else _validation(model, split, inputs, stats_ds, options)
    stops = _stops(patience) if not full else []
    try:
        trainer.fit(
            train_ds,
            epochs=epochs,
            initial_epoch=initial_epoch,
            shuffle=False,
            verbose=0,
            # Validation first: every later callback reads the figures it writes.
            callbacks=[
                *([validate] if validate else []),
                ReportEpochs(collect),
                *(callbacks or []),
                *stops,
            ],
        )
    except Exception as exc:
        if keras_backend.is_out_of_memory(exc):
            raise TrialFailed(f"out of memory: {str(exc).splitlines()[0][:300]}") from exc
        raise
    if full:  # no validation recomputed them: the model leaves with precise ones
        recompute_statistics(trainer, stats_ds)
    best_epoch, best_acc, val_loss = curves_summary(history)
    return TrialResult(
        curves=history,
        best_epoch=best_epoch + initial_epoch if best_epoch else 0,
        best_val_accuracy=best_acc,
        val_loss=val_loss,
        epochs=initial_epoch + len(history.get("loss", [])),
        duration_s=time.perf_counter() - started,
        params_count=int(model.count_params()),
        validation_s=validate.seconds if validate is not None else 0.0,
        model=model,
        val_probabilities=validate.probabilities if validate is not None else None,
        val_labels=validate.labels if validate is not None and validate.keep else None,
    )


def _validation(
    model: keras.Model,
    split: SplitData,
    inputs: tuple[str, ...],
    stats_ds: Iterable[object],
    options: TrainOptions,
) -> Validate:
    """The callback that measures each epoch on the validation part (BatchNorm statistics
    recomputed on the training part first)."""
    from mmtune.model.callbacks import Validate

    labels = split.data.train_labels[split.val_idx]
    inputs_ds = _validation_inputs(split, inputs)
    return Validate(model, inputs_ds, labels, stats_ds, keep=options.keep_val_probabilities)


def _stops(patience: int) -> list[keras.callbacks.Callback]:
    """Early stopping after ``patience`` epochs without a better validation accuracy, and at
    a perfect one (none when ``patience`` is 0)."""
    import keras

    from mmtune.model.callbacks import StopWhenPerfect

    if patience <= 0:
        return []
    return [
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=patience),
        StopWhenPerfect(),
    ]


def _validation_inputs(split: SplitData, inputs: tuple[str, ...]) -> Iterable[object]:
    """The validation rows' inputs, no labels, in order: what the model predicts to be
    validated (read from the split's arrays whatever the feed)."""
    from mmtune.data.feed import Feed

    rows = np.asarray(split.val_idx)
    return Feed(split, inputs).batches(rows, eval_batch(len(rows)), with_labels=False)


def _build_before_tracing(trainer: keras.Model, batches: Iterable[object]) -> None:
    """Make the optimizer's and the metrics' variables before ``fit`` traces its step.

    With TensorFlow and no distribution strategy, Keras makes them inside the first trace
    of the training step, and a ``tf.function`` that makes variables is traced twice: the
    second trace cost 3-4 s of every training of the seed's network on the demo
    (``benchmarks/tracing.py``), the same curves either way. Keras' own build, from the
    batches' shapes alone (``_symbolic_build``, which ``fit`` runs itself under a
    distribution strategy); without it (another Keras version), training goes on as before.
    Other backends compile the step with the variables as its arguments: nothing to do.
    """
    build = getattr(trainer, "_symbolic_build", None)
    spec = getattr(batches, "element_spec", None)  # a tf.data dataset's
    if callable(build) and spec is not None:
        build(data_batch=spec)


def _has_limits(options: TrainOptions) -> bool:
    return bool(options.max_params or options.max_macs or options.memory_ceiling_mb)


def refuse_if_untrainable(
    model_name: str,
    params: Params,
    spec: InputSpec,
    options: TrainOptions,
    on_model: Callable[[keras.Model], None] | None = None,
) -> None:
    """Raise :class:`ModelTooLarge` (or :class:`OverMemoryCeiling`) when the configuration is
    over ``options``' size or memory limits, judged on its shapes alone: no weight is made, and
    ``spec`` needs no data (audio statistics add no weight). ``on_model`` sees that weightless
    model (to record its size)."""
    if not _has_limits(options):
        return
    from mmtune.keras_backend import clear_keras_session

    probe = _weightless_model(model_name, params, spec)
    if on_model is not None:
        on_model(probe)
    try:
        _refuse_if_too_large(probe, options, int(params.get("batch_size", 32)))
    finally:
        del probe
        clear_keras_session(free_memory=False)  # forgets the probe's never-made weights


def _weightless_model(model_name: str, params: Params, spec: InputSpec) -> keras.Model:
    """The model's layers and shapes with its weights never made (Keras' stateless scope
    defers them): a 50M-parameter configuration refused for its size would otherwise take
    600 MB for a moment, only to be counted."""
    import keras

    from mmtune.model.networks import build_model

    with keras.StatelessScope(initialize_variables=False):
        return build_model(model_name, params, spec)


def _refuse_if_too_large(model: keras.Model, options: TrainOptions, batch_size: int) -> None:
    """``ModelTooLarge`` when the model is over ``--max-params`` or ``--max-cost``, or when
    training it would take the process past ``--max-memory-mb`` (on a GPU whose backend
    says how much it has, past the GPU's free memory: activations and weights live there)."""
    from mmtune.model.networks import model_macs, training_memory_mb

    max_params, max_macs = options.max_params, options.max_macs
    if max_params and model.count_params() > max_params:
        raise ModelTooLarge(
            f"{model.count_params():,} parameters, above --max-params "
            f"{max_params:,}: skipped untrained"
        )
    if max_macs and model_macs(model) > max_macs:
        raise ModelTooLarge(
            f"{model_macs(model):,} multiply-accumulates a sample, above "
            f"--max-cost ({max_macs:,}): skipped untrained"
        )
    ceiling = options.memory_ceiling_mb
    if not ceiling:
        return
    need = training_memory_mb(model, batch_size)
    from mmtune.keras_backend import device_memory

    device = device_memory()
    if device is not None and device.limit_mb:  # the training's memory is the GPU's
        free = device.limit_mb - device.in_use_mb
        if need > free:  # a fresh process would hold as little: no retry there
            raise ModelTooLarge(
                f"training it at batch {batch_size} needs about {need:,.0f} MB, and the GPU "
                f"has {free:,.0f} MB of its {device.limit_mb:,.0f} MB free: skipped untrained"
            )
        return
    now = rss_mb()
    if now is not None and now + need > ceiling:
        raise OverMemoryCeiling(
            f"training it at batch {batch_size} needs about {need:,.0f} MB, and the "
            f"process holds {now:,.0f} MB: above --max-memory-mb {ceiling:,}",
            need,
        )


def _training_batches(feed: Feed, rows: np.ndarray, batch_size: int, seed: int) -> Iterable[object]:
    """The shuffled training batches, all whole: a last, smaller batch would make the backend
    trace the training step a second time for its shape, which cost 8 s of a 1-epoch trial's
    34 s here. The rows left out change every epoch with the shuffle."""
    return feed.batches(rows, batch_size, shuffle=True, seed=seed, drop_remainder=True)


def _statistics_batches(feed: Feed, *, full: bool, batch_size: int, seed: int) -> Iterable[object]:
    """A fixed, seeded sample of training rows (whole batches of the trial's size) whose
    batch statistics become BatchNorm's (:mod:`mmtune.model.batchnorm`)."""
    from mmtune.model.batchnorm import STATISTICS_ROWS

    rng = np.random.default_rng([seed, 7])
    pick = rng.permutation(_training_rows(feed.split, full))[:STATISTICS_ROWS]
    whole = (len(pick) // batch_size) * batch_size
    pick = np.sort(pick[:whole] if whole else pick)
    return feed.batches(pick, batch_size, with_labels=False)


def _training_rows(split: SplitData, full: bool) -> np.ndarray:
    """The rows a model trains on: every labelled row for a refit, else the training part."""
    return np.arange(len(split.data.train_labels)) if full else np.asarray(split.train_idx)


def run_trial(
    model_name: str, params: Params, split: SplitData, options: TrainOptions, **kwargs: Any
) -> TrialResult:
    """Train one search trial (:func:`train_model`'s keywords) and free its graph and memory
    afterwards (the model is not kept)."""
    from mmtune.keras_backend import clear_keras_session

    try:
        result = train_model(model_name, params, split, options, **kwargs)
        result.model = None
        return result
    finally:
        clear_keras_session()
