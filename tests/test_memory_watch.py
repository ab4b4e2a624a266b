"""Bounded memory between trials: free heap memory goes back, growth past the budget recycles."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mmtune.search import memory
from mmtune.search.memory import MemoryWatch, RecycleProcess, return_free_memory, rss_mb


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc are Linux's")
def test_free_heap_memory_is_handed_back_to_the_system():
    chunks = [np.ones(1000) for _ in range(40_000)]  # ~320 MB in small heap blocks
    del chunks
    before = rss_mb()
    assert return_free_memory() is True
    after = rss_mb()
    assert before is not None and after is not None
    assert after < before - 100, (before, after)


def test_growth_past_the_budget_asks_for_a_recycle(monkeypatch):
    readings = iter([500.0, 700.0, 900.0, 2000.0])
    monkeypatch.setattr(memory, "rss_mb", lambda: next(readings))
    watch = MemoryWatch(budget_mb=300)
    watch.after_trial()  # the first trial's figure is the baseline
    watch.after_trial()  # 200 MB above: within the budget
    with pytest.raises(RecycleProcess, match="400 MB above the first trial's"):
        watch.after_trial()
    assert MemoryWatch(budget_mb=0).after_trial() is None  # 0: never
