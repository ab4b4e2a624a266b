"""Bounded memory over a long search: measure the process, recycle it when it has grown.

TensorFlow keeps some memory from every model a process builds, even after
``keras.backend.clear_session()`` (about 40 MB a trial of the seed's network
here). A search process whose resident memory has grown by more than
``--recycle-mb`` since its first trial replaces itself with a fresh one
(``exec``) between trials; the study resumes from the ledger, so nothing is
lost and only TensorFlow's import is paid again. Before measuring, the C
allocator hands its free memory back to the system (``malloc_trim``): 80-100 MB
less between trials here, though not the growth itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = [
    "rss_mb",
    "return_free_memory",
    "RecycleProcess",
    "MemoryWatch",
    "reexec_self",
    "STARTED_ENV",
]

STARTED_ENV = "MMTUNE_SEARCH_STARTED"  # the first process's start time, kept across recycles


def rss_mb() -> float | None:
    """This process's resident memory in MB (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


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
    """Raised between trials: the process has grown past its budget and should re-exec."""


class MemoryWatch:
    """Remembers the resident memory after the first trial; flags growth beyond a budget."""

    def __init__(self, budget_mb: int | None) -> None:
        self.budget_mb = budget_mb
        self.baseline: float | None = None

    def after_trial(self) -> None:
        """Call between trials; raises :class:`RecycleProcess` when over budget."""
        return_free_memory()
        now = rss_mb()
        if not self.budget_mb or now is None:
            return
        if self.baseline is None:
            self.baseline = now
        elif now > self.baseline + self.budget_mb:
            raise RecycleProcess(
                f"resident memory {now:,.0f} MB, {now - self.baseline:,.0f} MB "
                f"above the first trial's (--recycle-mb {self.budget_mb})"
            )


def reexec_self(argv: list[str]) -> None:
    """Replace this process with ``mmtune ARGV`` (same pid, output and environment), run from
    this very package (:func:`mmtune.launch.mmtune_command`), never a ``./mmtune/`` folder."""
    from mmtune.launch import mmtune_command

    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, mmtune_command(argv))
