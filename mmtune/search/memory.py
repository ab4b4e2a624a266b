"""Bounded memory over a long search: measure the process, recycle it before it grows too big.

TensorFlow keeps some memory from every model a process builds, even after
``keras.backend.clear_session()`` (30-40 MB a trial of the seed's network here).
Between trials a search process replaces itself with a fresh one (``exec``) when

- the next trial could pass ``--max-memory-mb``: its resident memory now plus the most a
  trial has held only while it ran (the kernel's peak, reset before each trial, above the
  memory the trial left; carried over to the recycled process). What a trial keeps is in
  "now" already, so a first trial's one-time growth (TensorFlow's start-up) is not counted
  twice. A configuration that would not fit is refused before training instead
  (:func:`mmtune.model.networks.training_memory_mb`), and retried in a fresh process only
  when one would hold it (:meth:`MemoryWatch.worth_a_fresh_process`); or
- it has grown by more than ``--recycle-mb`` since its first trial.

The study resumes from the ledger, so nothing is lost and only TensorFlow's import is
paid again. Before measuring, the C allocator hands its free memory back to the system
(``malloc_trim``): 80-100 MB less between trials here, though not the growth itself.
"""

from __future__ import annotations

import os
import sys

from mmtune.process_memory import (
    machine_memory_mb,
    peak_rss_mb,
    reset_peak_rss,
    return_free_memory,
    rss_mb,
)

__all__ = [
    "HOST_SHARE",
    "default_ceiling_mb",
    "fresh_process",
    "RecycleProcess",
    "MemoryWatch",
    "reexec_self",
    "STARTED_ENV",
    "TRIAL_NEED_ENV",
]

STARTED_ENV = "MMTUNE_SEARCH_STARTED"  # the first process's start time, kept across recycles
TRIAL_NEED_ENV = "MMTUNE_TRIAL_NEED_MB"  # the most a trial has needed, kept across recycles


#: The share of the machine's memory the search processes may hold together, by default.
HOST_SHARE = 0.5


def default_ceiling_mb(workers: int = 1) -> int | None:
    """``--max-memory-mb``'s default: half of what this machine has (its control group's limit
    when lower), shared among ``workers`` processes; None (no ceiling) where the machine's
    memory cannot be read. (It was a fixed 1,500 MB, a benchmark's target for the footprint:
    on a 24 GB machine a search of 1,200 rows at 256 px restarted itself 5 times in 10 trials
    to stay under it.)"""
    total = machine_memory_mb()
    if not total:
        return None
    return max(1, int(total * HOST_SHARE / max(1, workers)))


_trials_begun = 0  # trainings this process has begun, whichever loop ran them
_fresh_mb: float | None = None  # resident memory as this process began its first training


def fresh_process() -> bool:
    """True while this process has begun at most one training (the one under way, if any):
    nothing it ran before can be what keeps a model from fitting under the ceiling.
    Configurations refused before training do not count (:meth:`MemoryWatch.untrained`)."""
    return _trials_begun <= 1


class RecycleProcess(Exception):
    """Raised between trials: the process has grown past its budget and should re-exec.
    ``trial_need_mb`` is for the next process (:data:`TRIAL_NEED_ENV`)."""

    def __init__(self, message: str, trial_need_mb: float = 0.0) -> None:
        super().__init__(message)
        self.trial_need_mb = trial_need_mb


class MemoryWatch:
    """Watches a search process's memory from trial to trial and says when to recycle it.

    ``budget_mb``: growth allowed since the first trial (``--recycle-mb``).
    ``ceiling_mb``: resident memory the next trial must not be expected to pass
    (``--max-memory-mb``). Either may be ``None`` (that rule off).
    """

    def __init__(self, budget_mb: int | None, ceiling_mb: int | None = None) -> None:
        self.budget_mb = budget_mb
        self.ceiling_mb = ceiling_mb
        self.baseline: float | None = None  # resident memory after the first trial
        # the most a trial's peak rose above its end, in this process or an earlier one
        self.trial_need_mb = _float_env(TRIAL_NEED_ENV)
        self._peak_reset = False  # the kernel's peak was reset as the trial began

    def before_trial(self) -> None:
        """Call as a trial starts: its peak is measured from here."""
        global _trials_begun, _fresh_mb
        if _trials_begun == 0:
            return_free_memory()
            _fresh_mb = rss_mb()
        _trials_begun += 1
        self._peak_reset = reset_peak_rss()

    def untrained(self) -> None:
        """Call when the trial begun was refused before training (too large, over the memory
        ceiling): it built no weights, so the process stays as fresh as it was. (Counted, a
        fresh process that refused two configurations took the third's refusal for its own
        growth and restarted for nothing.)"""
        global _trials_begun
        _trials_begun = max(0, _trials_begun - 1)

    def worth_a_fresh_process(self, need_mb: float) -> bool:
        """True when a configuration this process refused for ``--max-memory-mb`` (a training
        needing ``need_mb``) may fit in a fresh process: this one has trained before, and what
        it held as it began its first training, plus ``need_mb``, stays under the ceiling.
        (Without this, the demo's search restarted for configurations that no process could
        hold, only to refuse them there: 2 of its 7 restarts.)"""
        if fresh_process():
            return False
        if not self.ceiling_mb or _fresh_mb is None:
            return True
        return _fresh_mb + need_mb <= self.ceiling_mb

    def fresh_note(self) -> str:
        """For the message of a configuration refused for good in a grown process: what a fresh
        process holds, which would pass the ceiling too ("" in a fresh process, or unknown)."""
        if fresh_process() or _fresh_mb is None:
            return ""
        return f"; a fresh process holds about {_fresh_mb:,.0f} MB, so it would pass it too"

    def refusal_reason(self, need: str, need_mb: float) -> tuple[bool, str]:
        """For a configuration refused for ``--max-memory-mb`` (``need``: what it needs and
        what the process holds): whether a fresh process should retry it, and the reason to
        record. One rule for every tuner."""
        if self.worth_a_fresh_process(need_mb):  # this grown process cannot; a fresh one may
            return True, f"{need}: retried in a fresh process"
        return False, f"{need}{self.fresh_note()}: skipped untrained"

    def after_trial(self) -> None:
        """Call between trials; raises :class:`RecycleProcess` when a rule says so."""
        peak = peak_rss_mb() if self._peak_reset else None
        self._peak_reset = False
        return_free_memory()
        now = rss_mb()
        if now is None:
            return
        if peak is not None:  # what the trial held only while it ran: its peak above its end
            self.trial_need_mb = max(self.trial_need_mb, peak - now)
        if not _trials_begun:  # it has trained nothing (refusals only): a fresh one holds as much
            return
        if self.ceiling_mb and now + self.trial_need_mb > self.ceiling_mb:
            raise RecycleProcess(
                f"resident memory {now:,.0f} MB, and a trial has needed up to "
                f"{self.trial_need_mb:,.0f} MB more while it ran: the next one could pass "
                f"--max-memory-mb {self.ceiling_mb:,}",
                self.trial_need_mb,
            )
        if not self.budget_mb:
            return
        if self.baseline is None:
            self.baseline = now
        elif now > self.baseline + self.budget_mb:
            raise RecycleProcess(
                f"resident memory {now:,.0f} MB, {now - self.baseline:,.0f} MB "
                f"above the first trial's (--recycle-mb {self.budget_mb})",
                self.trial_need_mb,
            )


def _float_env(name: str) -> float:
    """A non-negative number from the environment, 0 when unset or not a number."""
    try:
        value = float(os.environ.get(name, "0"))
    except ValueError:
        return 0.0
    return value if value > 0 and value != float("inf") else 0.0


def reexec_self(argv: list[str]) -> None:
    """Replace this process with ``mmtune ARGV`` (same pid, output and environment), run from
    this very package (:func:`mmtune.launch.mmtune_command`), never a ``./mmtune/`` folder."""
    from mmtune.launch import mmtune_command

    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, mmtune_command(argv))
