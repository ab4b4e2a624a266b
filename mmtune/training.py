"""One trial's training: build the model from plain values, fit it, report each epoch.

Tuner backends call :func:`run_trial`; it knows nothing of Keras Tuner or
Optuna. A NaN loss or an out-of-memory error raises :class:`TrialFailed`,
which the backends record as a failed trial before going on.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmtune.errors import ModelTooLarge, TrialFailed
from mmtune.trial_data import SplitData

__all__ = ["TrialResult", "EpochReport", "run_trial", "train_model", "curves_summary"]

EpochReport = Callable[[int, dict[str, float]], None]
"""Called after each epoch with the 1-based epoch and its logs; may raise to stop the trial."""


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
    model: Any = field(default=None, repr=False)


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


def _epoch_callback(report: EpochReport | None, offset: int) -> Any:
    import keras

    class _Report(keras.callbacks.Callback):
        """Fails the trial on a NaN loss and hands each epoch's logs to ``report``."""

        epoch = offset

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                raise TrialFailed(f"loss became {float(loss)} in epoch {self.epoch + 1} "
                                  f"(batch {batch + 1})")

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if report is not None:
                report(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})

    return _Report()


def _stop_when_perfect() -> Any:
    import keras

    class _StopWhenPerfect(keras.callbacks.Callback):
        """Ends training at a perfect validation accuracy: no later epoch can beat it."""

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if float((logs or {}).get("val_accuracy", 0.0)) >= 1.0:
                self.model.stop_training = True

    return _StopWhenPerfect()


def train_model(model_name: str, params: dict[str, Any], split: SplitData, *, epochs: int,
                seed: int = 0, validate: bool = True, full: bool = False,
                report: EpochReport | None = None, initial_epoch: int = 0,
                initial_weights: str | Path | None = None,
                callbacks: list[Any] | None = None,
                on_model: Callable[[Any], None] | None = None, patience: int = 0,
                jit_compile: bool | str = "auto", max_params: int | None = None,
                max_macs: int | None = None, feed: str = "pipeline") -> TrialResult:
    """Build ``model_name`` from ``params`` and fit it on ``split``.

    ``full=True`` trains on every labelled row (refit) and validates on none.
    ``initial_epoch`` / ``initial_weights`` continue an earlier run (Hyperband).
    ``on_model`` sees the model as soon as it is built (to record its size);
    a model above ``max_params`` parameters or ``max_macs`` multiply-accumulates per sample
    raises :class:`ModelTooLarge` untrained.
    ``patience`` > 0 ends training after that many epochs without a better validation
    accuracy, or at a perfect one (the best epoch is what refit uses, so the epochs after
    it only cost time).
    ``feed``: ``pipeline`` (tf.data over the cache) or ``device`` (the data on the training
    device, batches gathered there: :mod:`mmtune.device_feed`).
    """
    from mmtune.tf_setup import import_tensorflow

    tf = import_tensorflow()
    import keras

    from mmtune.batchnorm import precise_callback, recompute_statistics
    from mmtune.models import MODEL_INPUTS, build_model, compile_model, model_macs
    from mmtune.pipeline import make_dataset

    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    spec = split.input_spec(full=full)
    inputs = MODEL_INPUTS[model_name]
    batch_size = int(params.get("batch_size", 32))
    model = build_model(model_name, params, spec)
    if on_model is not None:
        on_model(model)
    if max_params and model.count_params() > max_params:  # refused before any other cost
        raise ModelTooLarge(f"{model.count_params():,} parameters, above --max-params "
                            f"{max_params:,}: skipped untrained")
    if max_macs and model_macs(model) > max_macs:
        raise ModelTooLarge(f"{model_macs(model):,} multiply-accumulates a sample, above "
                            f"--max-cost ({max_macs:,}): skipped untrained")
    if feed == "device":
        from mmtune.device_feed import device_trainer, index_dataset

        every = split.data
        train_rows = np.arange(len(every.train_labels)) if full else split.train_idx
        train_ds = index_dataset(train_rows, every.train_labels[train_rows],
                                 batch_size=batch_size, shuffle=True, seed=seed)
        val_ds = (index_dataset(split.val_idx, every.train_labels[split.val_idx], batch_size=256,
                                shuffle=False) if validate and not full else None)
    else:
        images, mfcc, labels = split.part("all" if full else "train")
        train_ds = make_dataset(images, mfcc, labels, inputs=inputs, batch_size=batch_size,
                                shuffle=True, seed=seed)
        val_ds = None
        if validate and not full:
            v_images, v_mfcc, v_labels = split.part("val")
            val_ds = make_dataset(v_images, v_mfcc, v_labels, inputs=inputs, batch_size=256)
    stats_ds = _statistics_batches(split, full=full, inputs=inputs, batch_size=batch_size,
                                   seed=seed, feed=feed)
    trainer = model
    if feed == "device":
        trainer = device_trainer(model, split.data.train_images, split.data.train_mfcc, inputs)
    compile_model(trainer, params, jit_compile=jit_compile)
    if initial_weights:
        model.load_weights(str(initial_weights))
    history: dict[str, list[float]] = {}

    def collect(epoch: int, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        if report is not None:
            report(epoch, logs)

    callbacks = list(callbacks or [])
    if val_ds is not None:  # BatchNorm statistics recomputed before every validation
        callbacks.insert(0, precise_callback(stats_ds))
    if patience > 0 and val_ds is not None:
        callbacks += [keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                    patience=patience), _stop_when_perfect()]
    try:
        trainer.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                    shuffle=False, verbose=0,
                    callbacks=[_epoch_callback(collect, initial_epoch), *callbacks])
    except tf.errors.ResourceExhaustedError as exc:
        raise TrialFailed(f"out of memory: {str(exc).splitlines()[0][:300]}") from exc
    if val_ds is None:  # no validation recomputed them: the model leaves with precise ones
        recompute_statistics(trainer, stats_ds)
    best_epoch, best_acc, val_loss = curves_summary(history)
    return TrialResult(curves=history, best_epoch=best_epoch + initial_epoch if best_epoch else 0,
                       best_val_accuracy=best_acc, val_loss=val_loss,
                       epochs=initial_epoch + len(history.get("loss", [])),
                       duration_s=time.perf_counter() - started,
                       params_count=int(model.count_params()), model=model)


def _statistics_batches(split: SplitData, *, full: bool, inputs: tuple[str, ...],
                        batch_size: int, seed: int, feed: str) -> Any:
    """A fixed, seeded sample of training rows (whole batches of the trial's size) whose
    batch statistics become BatchNorm's (:mod:`mmtune.batchnorm`)."""
    from mmtune.batchnorm import STATISTICS_ROWS
    from mmtune.pipeline import make_dataset

    every = split.data
    rows = np.arange(len(every.train_labels)) if full else np.asarray(split.train_idx)
    rng = np.random.default_rng([seed, 7])
    pick = rng.permutation(rows)[:STATISTICS_ROWS]
    whole = (len(pick) // batch_size) * batch_size
    pick = np.sort(pick[:whole] if whole else pick)
    if feed == "device":
        from mmtune.device_feed import index_dataset

        return index_dataset(pick, every.train_labels[pick], batch_size=batch_size,
                             shuffle=False)
    return make_dataset(every.train_images[pick], every.train_mfcc[pick], None, inputs=inputs,
                        batch_size=batch_size)


def run_trial(model_name: str, params: dict[str, Any], split: SplitData, *, epochs: int,
              seed: int = 0, report: EpochReport | None = None, **kwargs: Any) -> TrialResult:
    """Train one search trial and free its graph and memory afterwards (model not kept)."""
    import keras

    try:
        result = train_model(model_name, params, split, epochs=epochs, seed=seed,
                             report=report, **kwargs)
        result.model = None
        return result
    finally:
        keras.backend.clear_session()
        gc.collect()
