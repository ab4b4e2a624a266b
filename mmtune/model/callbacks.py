"""The trainer's Keras callbacks: per-epoch reporting with the NaN check, the stop at a
perfect validation accuracy, and the validation itself (precise BatchNorm statistics, one
prediction pass, the figures, and the best epoch's class probabilities kept).

Keras is imported at import time: this module is imported only when a model trains.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import keras
import numpy as np

from mmtune.errors import TrialFailed
from mmtune.keras_backend import Forward, forward_pass
from mmtune.model.batchnorm import recompute_statistics

__all__ = [
    "EpochReport",
    "ReportEpochs",
    "StopWhenPerfect",
    "Validate",
    "validation_figures",
]

EpochReport = Callable[[int, dict[str, float]], None]
"""Called after each epoch with the 1-based epoch and its logs; may raise to stop the trial."""


class ReportEpochs(keras.callbacks.Callback):
    """Fails the trial on a NaN loss (naming the epoch and batch) and hands each epoch's logs
    to ``report``.

    The batch check runs on Keras' callback thread (``async_safe``): reading a batch's loss
    waits for the accelerator to finish that step, which on the training thread would keep
    it from queueing the next (a GPU idles between small steps). A NaN raised there ends
    ``fit`` at the next batch or at the epoch's end, with the same message."""

    async_safe = True

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


class Validate(keras.callbacks.Callback):
    """Validates after every epoch by one prediction over the validation part, in place of
    Keras' ``evaluate``: BatchNorm statistics recomputed from ``statistics`` (batches of
    training rows, :mod:`mmtune.model.batchnorm`), then ``network``'s class probabilities for
    ``inputs`` (the validation rows, in order), from which ``val_loss`` and ``val_accuracy``
    are computed as Keras computes them and written into the epoch's logs for the callbacks
    after this one. With ``keep``, the probabilities of the best epoch (the earliest on ties,
    as :func:`~mmtune.model.training.curves_summary` picks it) are kept: one pass gives both
    the figures and what the leaderboard's seed average needs (an ``evaluate`` and a
    ``predict`` would trace and run two). ``network`` is the model itself (the trainer may
    wrap it)."""

    def __init__(
        self,
        network: keras.Model,
        inputs: Iterable[object],
        labels: np.ndarray,
        statistics: Iterable[object],
        keep: bool = False,
    ) -> None:
        super().__init__()
        self.network = network
        self.inputs = inputs
        self.labels = np.asarray(labels, dtype=np.int64)
        self.statistics = statistics
        self.keep = keep
        self.best = -math.inf
        self.probabilities: np.ndarray | None = None
        self.seconds = 0.0  # spent validating, compilation of its programs included
        self._forward: Forward | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        started = time.perf_counter()
        if self._forward is None:
            self._forward = forward_pass(self.model)
        recompute_statistics(self.model, self.statistics, self._forward)
        probabilities = np.asarray(self.network.predict(self.inputs, verbose=0))
        loss, accuracy = validation_figures(probabilities, self.labels)
        if logs is not None:
            logs["val_loss"], logs["val_accuracy"] = loss, accuracy
        if self.keep and accuracy > self.best:
            self.best, self.probabilities = accuracy, probabilities
        self.seconds += time.perf_counter() - started


def validation_figures(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(loss, accuracy)`` of class ``probabilities`` for ``labels`` as Keras' ``evaluate``
    gives them for this trainer's compiled loss and metric: the mean sparse cross-entropy of
    the probabilities (normalized, clipped to [1e-7, 1 - 1e-7]) and the share of rows whose
    most probable class is the label. A non-finite probability gives a non-finite loss."""
    if not len(labels):
        return math.nan, math.nan
    probs = np.asarray(probabilities, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7)
    loss = float(-np.mean(np.log(picked)))
    accuracy = float(np.mean(probs.argmax(axis=1) == labels))
    return loss, accuracy
