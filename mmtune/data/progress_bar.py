"""A one-line progress bar on stderr, for the pictures a cache build decodes."""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """``decoding pictures [####      ] 120/450 (310/s)``, redrawn at most ten times a
    second; nothing when disabled (or with nothing to do)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled and total > 0
        self.started = self.last = time.perf_counter()

    def advance(self, k: int) -> None:
        self.done += k
        now = time.perf_counter()
        if self.enabled and (now - self.last > 0.1 or self.done >= self.total):
            self.last = now
            frac = self.done / self.total
            bar = "#" * int(30 * frac)
            rate = self.done / max(now - self.started, 1e-9)
            sys.stderr.write(
                f"\rdecoding pictures [{bar:<30}] {self.done}/{self.total} ({rate:,.0f}/s)"
            )
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
