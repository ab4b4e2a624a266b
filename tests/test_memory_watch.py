"""Bounded memory between trials: free heap memory goes back, growth past the budget recycles."""

from __future__ import annotations

import ctypes
import sys

import numpy as np
import pytest

from mmtune.process_memory import return_free_memory, rss_mb
from mmtune.search import memory
from mmtune.search.memory import MemoryWatch, RecycleProcess


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc are Linux's")
def test_free_heap_memory_is_handed_back_to_the_system():
    """Only ``return_free_memory`` hands the freed blocks back: glibc's ``free`` trims the
    heap's top by itself when its threshold allows, which, depending on what ran before in
    the process, left nothing to hand back (the test failed in one order of the suite)."""
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold = -1
    libc.mallopt(m_trim_threshold, 1 << 30)  # free() keeps what it frees
    try:
        chunks = [np.ones(1000) for _ in range(40_000)]  # ~320 MB in small heap blocks
        del chunks
        before = rss_mb()
        assert return_free_memory() is True
        after = rss_mb()
    finally:
        libc.mallopt(m_trim_threshold, 128 * 1024)  # glibc's default
    assert before is not None and after is not None
    assert after < before - 100, (before, after)


def test_growth_past_the_budget_asks_for_a_recycle(monkeypatch):
    readings = iter([500.0, 700.0, 900.0, 2000.0])
    monkeypatch.setattr(memory, "rss_mb", lambda: next(readings))
    monkeypatch.setattr(memory, "_trials_begun", 1)  # it has trained
    watch = MemoryWatch(budget_mb=300)
    watch.after_trial()  # the first trial's figure is the baseline
    watch.after_trial()  # 200 MB above: within the budget
    with pytest.raises(RecycleProcess, match="400 MB above the first trial's"):
        watch.after_trial()
    assert MemoryWatch(budget_mb=0).after_trial() is None  # 0: never


def _fake_trials(monkeypatch, trials):
    """Each ``watch.before_trial()`` starts the next ``(resident at its start, its peak,
    resident after it)`` of ``trials``."""
    rss: list[float] = []
    peak: list[float] = []

    def start_trial(watch: MemoryWatch) -> None:
        _start, top, after = next(trials)  # the start is what the kernel's reset peak is at
        rss[:] = [after]
        peak[:] = [top]
        watch.before_trial()

    monkeypatch.delenv(memory.TRIAL_NEED_ENV, raising=False)
    monkeypatch.setattr(memory, "_trials_begun", 1)  # trained before: no fresh reading
    monkeypatch.setattr(memory, "reset_peak_rss", lambda: True)
    monkeypatch.setattr(memory, "peak_rss_mb", lambda: peak[0])
    monkeypatch.setattr(memory, "rss_mb", lambda: rss.pop(0))
    return start_trial


def test_a_trial_that_could_pass_the_ceiling_asks_for_a_recycle(monkeypatch):
    # per trial: resident memory at its start, its peak, resident memory after it
    start_trial = _fake_trials(
        monkeypatch, iter([(500.0, 700.0, 600.0), (600.0, 750.0, 640.0), (640.0, 960.0, 700.0)])
    )
    watch = MemoryWatch(budget_mb=None, ceiling_mb=900)
    start_trial(watch)
    watch.after_trial()  # 600 after, 100 held only while it ran: 700 < 900
    start_trial(watch)
    watch.after_trial()  # 640 + 110: under 900
    assert watch.trial_need_mb == 110
    start_trial(watch)
    with pytest.raises(RecycleProcess, match="260 MB more while it ran") as caught:
        watch.after_trial()  # 700 + 260 > 900
    assert caught.value.trial_need_mb == 260


def test_what_a_first_trial_keeps_is_not_counted_twice(monkeypatch):
    """TensorFlow's start-up growth stays in the process: it is in "now", not in the need."""
    start_trial = _fake_trials(monkeypatch, iter([(500.0, 900.0, 800.0), (800.0, 880.0, 810.0)]))
    watch = MemoryWatch(budget_mb=None, ceiling_mb=950)
    start_trial(watch)
    watch.after_trial()  # kept 300, held 100 more while it ran: 800 + 100 < 950
    assert watch.trial_need_mb == 100
    start_trial(watch)
    watch.after_trial()
    assert watch.trial_need_mb == 100


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


def test_configurations_refused_before_training_leave_the_process_fresh(monkeypatch):
    """A refusal builds no weights: a process that refused two configurations and trained
    none is still fresh, so a third refused for memory is refused for good there rather than
    restarting the process for nothing (seen in the README's main job)."""
    monkeypatch.setattr(memory, "_trials_begun", 0)
    watch = MemoryWatch(None, 1500)
    for _ in range(2):
        watch.before_trial()
        watch.untrained()
    watch.before_trial()
    assert memory.fresh_process(), "the training under way is the process's first"
    watch.before_trial()
    assert not memory.fresh_process(), "one training before it: the process may have grown"


def test_a_fresh_process_is_tried_only_for_a_configuration_it_would_hold(monkeypatch):
    """What the process held as it began its first training is what a fresh one holds: a
    grown process's refusal is worth a restart only when that plus the need fits (the demo's
    search restarted twice for configurations no process could hold, and refused them in
    the fresh one)."""
    monkeypatch.setattr(memory, "_trials_begun", 0)
    monkeypatch.setattr(memory, "_fresh_mb", None)
    readings = iter([700.0, 1000.0])
    monkeypatch.setattr(memory, "rss_mb", lambda: next(readings))
    watch = MemoryWatch(None, 1500)
    watch.before_trial()  # the first training: 700 MB
    assert not watch.worth_a_fresh_process(100), "this process is fresh itself"
    watch.before_trial()  # no reading: not the first
    assert watch.worth_a_fresh_process(800)  # 700 + 800 = 1500
    assert not watch.worth_a_fresh_process(801)


def test_a_process_that_trained_nothing_is_not_restarted(monkeypatch):
    """Refusals alone build no weights: a fresh process would hold as much, so even a trial
    need over the ceiling does not restart it (a search refusing everything under a low
    --max-memory-mb restarted after its first refusal, paying TensorFlow's import again)."""
    monkeypatch.setattr(memory, "_trials_begun", 0)
    monkeypatch.setattr(memory, "rss_mb", lambda: 700.0)
    monkeypatch.setenv(memory.TRIAL_NEED_ENV, "500")
    watch = MemoryWatch(None, 1000)
    watch.before_trial()
    watch.untrained()
    watch.after_trial()  # 700 + 500 > 1000, but nothing was trained
    watch.before_trial()  # this one trains
    with pytest.raises(RecycleProcess):
        watch.after_trial()


def test_the_default_ceiling_is_half_the_machine_shared_among_workers():
    """--max-memory-mb's default comes from the machine (its cgroup's limit when lower), not a
    fixed 1,500 MB: half of it, split evenly between workers."""
    from mmtune.process_memory import machine_memory_mb
    from mmtune.search.memory import HOST_SHARE, default_ceiling_mb

    total = machine_memory_mb()
    with open("/proc/meminfo") as fh:
        physical = int(next(line for line in fh if line.startswith("MemTotal:")).split()[1]) / 1024
    assert total is not None and 0 < total <= physical
    assert default_ceiling_mb(1) == int(total * HOST_SHARE)
    assert default_ceiling_mb(4) == int(total * HOST_SHARE / 4)
