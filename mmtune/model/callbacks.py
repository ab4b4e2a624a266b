"""The trainer's Keras callbacks: per-epoch reporting with the NaN check, the stop at a
perfect validation accuracy, precise BatchNorm statistics before each validation, and the
validation part's class probabilities kept at the best epoch.

Keras is imported at import time: this module is imported only when a model trains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import keras
import numpy as np

from mmtune.errors import TrialFailed
from mmtune.model.batchnorm import Forward, forward_pass, recompute_statistics

__all__ = [
    "EpochReport",
    "ReportEpochs",
    "StopWhenPerfect",
    "PreciseBatchNorm",
    "BestEpochProbabilities",
]

EpochReport = Callable[[int, dict[str, float]], None]
"""Called after each epoch with the 1-based epoch and its logs; may raise to stop the trial."""


class ReportEpochs(keras.callbacks.Callback):
    """Fails the trial on a NaN loss (naming the epoch and batch) and hands each epoch's logs
    to ``report``."""

    def __init__(self, report: EpochReport | None) -> None:
        super().__init__()
        self.report = report
        self.epoch = 0
        self.batch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch  # 0-based and absolute: initial_epoch counts

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batch = batch
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrialFailed(
                f"loss became {float(loss)} in epoch {self.epoch + 1} (batch {batch + 1})"
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        # A batch's loss is taken before its update: weights the epoch's last update broke
        # show first in the validation loss (with one batch an epoch, nowhere else).
        val_loss = (logs or {}).get("val_loss")
        if val_loss is not None and not math.isfinite(float(val_loss)):
            raise TrialFailed(
                f"loss became {float(val_loss)} in epoch {epoch + 1} (batch {self.batch + 1}, "
                "seen in the validation loss after it)"
            )
        if self.report is not None:
            self.report(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})


class StopWhenPerfect(keras.callbacks.Callback):
    """Ends training at a perfect validation accuracy: no later epoch can beat it."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if float((logs or {}).get("val_accuracy", 0.0)) >= 1.0:
            self.model.stop_training = True


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recomputes BatchNorm statistics from ``batches`` of training rows before each
    evaluation (``fit`` validates through ``evaluate``, which calls ``on_test_begin``)."""

    def __init__(self, batches: Iterable[object]) -> None:
        super().__init__()
        self.batches = batches
        self._forward: Forward | None = None

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._forward is None:
            self._forward = forward_pass(self.model)
        recompute_statistics(self.model, self.batches, self._forward)


class BestEpochProbabilities(keras.callbacks.Callback):
    """Keeps ``model``'s class probabilities on the validation ``batches`` (inputs only, in
    row order) from the epoch of the best validation accuracy (the earliest on ties, as
    :func:`~mmtune.model.training.curves_summary` picks it). Each better epoch costs one
    prediction pass over the validation part, after its BatchNorm statistics were
    recomputed. ``model`` is the network itself (the trainer may wrap it)."""

    def __init__(self, model: keras.Model, batches: Iterable[object]) -> None:
        super().__init__()
        self.network = model
        self.batches = batches
        self.best = -math.inf
        self.probabilities: np.ndarray | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        accuracy = (logs or {}).get("val_accuracy")
        if accuracy is None or not float(accuracy) > self.best:
            return
        self.best = float(accuracy)
        self.probabilities = np.asarray(self.network.predict(self.batches, verbose=0))
