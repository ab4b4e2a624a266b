"""Batches as a ``keras.utils.PyDataset`` fed by threads (the feed of every backend but
TensorFlow's, which keeps ``tf.data``).

Each batch is one gather (a numpy gather from the arrays the cache loaded, or a gather of
device-resident arrays on the device for ``--feed device``), of the rows
:class:`~mmtune.data.batch_order.BatchOrder` gives that epoch: the same batches as
``tf.data`` for one seed. During ``fit`` a few threads gather the next batches while the
accelerator trains on this one. Threads, not processes: Keras' process mode breaks under JAX
on a GPU (keras issue #20619), and a gather holds no lock for long.

Keras is imported at import time: this module is imported only when a model trains.
"""

from __future__ import annotations

# ruff: noqa: E402  (Keras is imported quietly first)
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from mmtune import keras_backend

keras_backend.start()

import keras

from mmtune.data.batch_order import BatchOrder

__all__ = ["RowBatches", "FEED_THREADS"]

#: Threads gathering batches ahead of training: enough to keep a GPU fed at batch 32 (a
#: gather of 32 pictures at 64 px takes about 0.1 ms), no more than the machine's cores.
FEED_THREADS = max(1, min(4, (os.cpu_count() or 1) - 1))


class RowBatches(keras.utils.PyDataset):
    """The batches of ``order``, each made by ``take(row indices)``; the next epoch's order
    once Keras ends an epoch. ``threads`` > 1 gathers ahead during ``fit``; iterating by hand
    (validation, BatchNorm statistics) walks the batches in order in the caller's thread."""

    def __init__(
        self, order: BatchOrder, take: Callable[[np.ndarray], Any], *, threads: int = 1
    ) -> None:
        super().__init__(workers=max(1, threads), use_multiprocessing=False, max_queue_size=8)
        self.order = order
        self.take = take
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> Any:
        batches = self.order.epoch(self.epoch)
        if not 0 <= index < len(batches):
            raise IndexError(f"batch {index} of {len(batches)}")
        return self.take(batches[index])

    def on_epoch_end(self) -> None:
        self.epoch += 1
