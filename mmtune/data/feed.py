"""How a trial's batches reach its model, whatever the backend: the one place that chooses.

Two feeds (``--feed``):

- ``pipeline`` (default): rows gathered on the host from the arrays the cache loaded, a batch
  at a time, ahead of training: ``tf.data`` on TensorFlow (:mod:`mmtune.data.tf_batches`),
  a thread-fed ``keras.utils.PyDataset`` elsewhere (:mod:`mmtune.data.threaded_batches`);
- ``device``: every labelled row copied once to the training device (13,802 rows at 64 px
  are 170 MB of a GPU's memory) and each batch gathered there, so only row indices cross from
  the host. On TensorFlow the model is wrapped to take row indices
  (:mod:`mmtune.data.device_feed`); elsewhere the batches are gathered on the device before
  the step, and the model trains as it is.

Which rows each batch holds is :class:`~mmtune.data.batch_order.BatchOrder`'s, the same for
every feed and backend.

>>> feed = Feed(split, ("image", "audio"), "pipeline")                  # doctest: +SKIP
>>> train = feed.batches(split.train_idx, 32, shuffle=True, seed=0)     # doctest: +SKIP
>>> trainer = feed.trainer(model)                                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mmtune import keras_backend
from mmtune.data.batch_order import BatchOrder

if TYPE_CHECKING:
    import keras

    from mmtune.data.picture_file import Pictures
    from mmtune.data.trial_data import SplitData

__all__ = ["FEEDS", "Feed", "host_batches"]

FEEDS = ("pipeline", "device")


def host_batches(
    arrays: Mapping[str, Pictures],
    order: BatchOrder,
    *,
    inputs: Sequence[str],
    with_labels: bool = True,
    threads: int = 1,
) -> Iterable[Any]:
    """The batches of ``order`` gathered from host ``arrays`` (``image``, ``audio``,
    ``label``): ``({"image": ..., "audio": ...}, label)``, or the inputs alone. ``threads``:
    gatherers ahead of ``fit`` on the thread-fed backends (``tf.data`` tunes its own)."""
    inputs = tuple(inputs)
    if keras_backend.uses_tf_data():
        from mmtune.data.tf_batches import rows_dataset

        return rows_dataset(arrays, order, inputs=inputs, with_labels=with_labels)
    from mmtune.data.threaded_batches import RowBatches

    columns = {name: arrays[name] for name in inputs}
    labels = arrays["label"] if with_labels else None

    def take(index: np.ndarray) -> Any:
        features = {name: column[index] for name, column in columns.items()}
        return (features, labels[index]) if labels is not None else features

    return RowBatches(order, take, threads=threads)


@dataclass
class Feed:
    """A trial's feed: ``kind`` (``pipeline`` or ``device``) over ``split``'s labelled rows,
    for a model taking ``inputs``."""

    split: SplitData
    inputs: tuple[str, ...]
    kind: str = "pipeline"

    def __post_init__(self) -> None:
        if self.kind not in FEEDS:
            raise ValueError(f"Expected a feed among {FEEDS}. Received: feed={self.kind!r}")

    def batches(
        self,
        rows: np.ndarray,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        with_labels: bool = True,
        drop_remainder: bool = False,
    ) -> Iterable[Any]:
        """Batches of ``rows`` as :meth:`trainer`'s model takes them. Shuffled batches are
        training's: gathered ahead by threads where the backend's feed has them."""
        order = BatchOrder(rows, batch_size, shuffle, seed, drop_remainder)
        if self.kind == "pipeline":
            from mmtune.data.threaded_batches import FEED_THREADS

            threads = FEED_THREADS if shuffle else 1
            return host_batches(
                self.split.arrays(),
                order,
                inputs=self.inputs,
                with_labels=with_labels,
                threads=threads,
            )
        labels = self.split.data.train_labels
        if keras_backend.uses_tf_data():
            from mmtune.data.tf_batches import index_dataset

            ds = index_dataset(order, labels)
            return ds if with_labels else ds.map(lambda rows, _: rows)
        from mmtune.data.threaded_batches import RowBatches

        tensors = self.split.on_device()
        names = (*self.inputs, "label") if with_labels else self.inputs
        wanted = {name: tensors[name] for name in names}

        def take(index: np.ndarray) -> Any:
            gathered = keras_backend.gather_on_device(wanted, index)
            features = {name: gathered[name] for name in self.inputs}
            return (features, gathered["label"]) if with_labels else features

        return RowBatches(order, take)  # dispatch is asynchronous: no thread needed

    def trainer(self, model: keras.Model) -> keras.Model:
        """What ``fit`` trains: the model itself, or on TensorFlow's device feed a wrapper
        taking row indices and sharing the model's layers and weights."""
        if self.kind == "device" and keras_backend.uses_tf_data():
            from mmtune.data.device_feed import device_trainer

            return device_trainer(model, self.split.on_device(), self.inputs)
        return model
