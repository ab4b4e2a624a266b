"""Which rows each batch of an epoch holds: one rule for every feed and every backend.

The order is drawn with numpy, from the seed and the epoch, so ``tf.data`` on TensorFlow and
the thread-fed batches of the other backends give the same batches (rows, order, values) for
one seed, and an epoch's order does not depend on how many were drawn before it.

>>> order = BatchOrder(np.arange(10), batch_size=4, shuffle=True, seed=0, drop_remainder=True)
>>> len(order), [len(b) for b in order.epoch(0)]
(2, [4, 4])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["BatchOrder"]


@dataclass(frozen=True)
class BatchOrder:
    """The batches of ``rows``: shuffled every epoch from ``seed`` when ``shuffle`` (the
    permutation of epoch ``e`` is ``default_rng([seed, e])``'s), else in the given order;
    ``drop_remainder`` leaves out a last partial batch (never when there is no whole one:
    some rows always train)."""

    rows: np.ndarray
    batch_size: int
    shuffle: bool = False
    seed: int = 0
    drop_remainder: bool = False
    _last: dict[int, list[np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        size = self.batch_size
        if isinstance(size, bool) or int(size) != size or size < 1:
            raise ValueError(f"Expected a positive integer batch_size. Received: batch_size={size}")
        object.__setattr__(self, "rows", np.asarray(self.rows, dtype=np.int64))
        object.__setattr__(self, "batch_size", int(size))

    @property
    def whole_batches(self) -> bool:
        """True when every batch has ``batch_size`` rows (one shape: one traced step)."""
        return self._drops() or (len(self.rows) > 0 and len(self.rows) % self.batch_size == 0)

    def _drops(self) -> bool:
        return self.drop_remainder and len(self.rows) >= self.batch_size

    def __len__(self) -> int:
        n, size = len(self.rows), self.batch_size
        return n // size if self._drops() else -(-n // size)

    def epoch(self, epoch: int) -> list[np.ndarray]:
        """The row indices of each batch of ``epoch`` (0-based), in order."""
        cached = self._last.get(epoch)
        if cached is not None:
            return cached
        rows = self.rows
        if self.shuffle:
            rows = np.random.default_rng([self.seed & 0xFFFFFFFF, epoch]).permutation(rows)
        size = self.batch_size
        batches = [rows[k * size : (k + 1) * size] for k in range(len(self))]
        self._last.clear()  # one epoch kept: each is asked for once a batch
        self._last[epoch] = batches
        return batches
