"""This process's memory, as Linux reports it: resident now, the peak, and handing free
memory back. Read by the trainer (refusing a model that would not fit) and by the search
(recycling a grown process)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["rss_mb", "peak_rss_mb", "reset_peak_rss", "return_free_memory", "machine_memory_mb"]


def rss_mb() -> float | None:
    """This process's resident memory in MB (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def machine_memory_mb() -> float | None:
    """The memory this process's machine has for it, in MB: the physical memory
    (``MemTotal``), or its control group's limit when that is lower (a container's, cgroup v2
    or v1); None where neither can be read."""
    sizes = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    sizes.append(int(line.split()[1]) / 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(limit_file) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit():  # "max": no limit
            sizes.append(int(text) / 2**20)
    return min(sizes) if sizes else None


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
