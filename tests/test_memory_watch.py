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


def test_a_trial_that_could_pass_the_ceiling_asks_for_a_recycle(monkeypatch):
    # per trial: resident memory at its start, its peak, resident memory after it
    trials = iter([(500.0, 700.0, 600.0), (600.0, 750.0, 640.0), (640.0, 900.0, 700.0)])
    rss: list[float] = []
    peak: list[float] = []

    def start_trial(watch: MemoryWatch) -> None:
        start, top, after = next(trials)
        rss[:] = [start, after]
        peak[:] = [top]
        watch.before_trial()

    monkeypatch.delenv(memory.TRIAL_NEED_ENV, raising=False)
    monkeypatch.setattr(memory, "reset_peak_rss", lambda: True)
    monkeypatch.setattr(memory, "peak_rss_mb", lambda: peak[0])
    monkeypatch.setattr(memory, "rss_mb", lambda: rss.pop(0))
    watch = MemoryWatch(budget_mb=None, ceiling_mb=900)
    start_trial(watch)
    watch.after_trial()  # 600 after, 200 needed: 800 < 900
    start_trial(watch)
    watch.after_trial()  # 640 + 200: under 900
    assert watch.trial_need_mb == 200
    start_trial(watch)
    with pytest.raises(RecycleProcess, match="260 MB more: the next one could pass") as caught:
        watch.after_trial()  # 700 + 260 > 900
    assert caught.value.trial_need_mb == 260


def test_the_next_process_starts_from_what_a_trial_needed(monkeypatch):
    monkeypatch.setenv(memory.TRIAL_NEED_ENV, "350")
    assert MemoryWatch(budget_mb=None, ceiling_mb=1000).trial_need_mb == 350
    monkeypatch.setenv(memory.TRIAL_NEED_ENV, "nan")
    assert MemoryWatch(budget_mb=None, ceiling_mb=1000).trial_need_mb == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_the_kernel_peak_restarts_at_each_trial():
    if not memory.reset_peak_rss():
        pytest.skip("this kernel keeps its peak (clear_refs refused)")
    block = np.ones(40_000_000 // 8)  # 40 MB, touched
    del block
    return_free_memory()
    before = memory.peak_rss_mb()
    assert memory.reset_peak_rss()
    after = memory.peak_rss_mb()
    now = rss_mb()
    assert before is not None and after is not None and now is not None
    assert after < before - 30, (before, after)
    assert abs(after - now) < 20, (after, now)
