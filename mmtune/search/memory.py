"""Bounded memory over a long search: measure the process, recycle it before it grows too big.

TensorFlow keeps some memory from every model a process builds, even after
``keras.backend.clear_session()`` (30-40 MB a trial of the seed's network here).
Between trials a search process replaces itself with a fresh one (``exec``) when

- the next trial could pass ``--max-memory-mb``: its resident memory now plus the most
  a trial has risen above its start (the kernel's peak, reset before each trial; a trial
  that loads a resolution's data counts it; carried over to the recycled process), or
- it has grown by more than ``--recycle-mb`` since its first trial.

The study resumes from the ledger, so nothing is lost and only TensorFlow's import is
paid again. Before measuring, the C allocator hands its free memory back to the system
(``malloc_trim``): 80-100 MB less between trials here, though not the growth itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = [
    "rss_mb",
    "peak_rss_mb",
    "reset_peak_rss",
    "return_free_memory",
    "RecycleProcess",
    "MemoryWatch",
    "reexec_self",
    "STARTED_ENV",
    "TRIAL_NEED_ENV",
]

STARTED_ENV = "MMTUNE_SEARCH_STARTED"  # the first process's start time, kept across recycles
TRIAL_NEED_ENV = "MMTUNE_TRIAL_NEED_MB"  # the most a trial has needed, kept across recycles


def rss_mb() -> float | None:
    """This process's resident memory in MB (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB since start or :func:`reset_peak_rss`
    (Linux's ``VmHWM``), or None where it cannot be read."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Start a new peak (``VmHWM``) at the present resident memory; False where the kernel
    does not allow it (before Linux 4.0, or not Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def return_free_memory() -> bool:
    """Ask glibc to give its free heap memory back to the system; False where there is no
    ``malloc_trim`` (not glibc)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return False
    trim(0)
    return True


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
        # the most a trial's peak rose above its start, in this process or an earlier one
        self.trial_need_mb = _float_env(TRIAL_NEED_ENV)
        self._started_at: float | None = None

    def before_trial(self) -> None:
        """Call as a trial starts: its peak is measured from here."""
        self._started_at = rss_mb() if reset_peak_rss() else None

    def after_trial(self) -> None:
        """Call between trials; raises :class:`RecycleProcess` when a rule says so."""
        peak = peak_rss_mb() if self._started_at is not None else None
        if peak is not None and self._started_at is not None:
            self.trial_need_mb = max(self.trial_need_mb, peak - self._started_at)
        self._started_at = None
        return_free_memory()
        now = rss_mb()
        if now is None:
            return
        if self.ceiling_mb and now + self.trial_need_mb > self.ceiling_mb:
            raise RecycleProcess(
                f"resident memory {now:,.0f} MB, and a trial has needed up to "
                f"{self.trial_need_mb:,.0f} MB more: the next one could pass "
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
