"""Where mmtune keeps things on disk when the user does not say.

- results: ``./results`` (``--results DIR``): ledger, refits, reports.
- ledger: a SQLite file under the results, or ``--storage URL``, whose default is
  ``$MMTUNE_STORAGE`` (:data:`STORAGE_ENV`): a URL with a password stays off command lines.
- cache: ``$MMTUNE_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmtune``, else
  ``~/.cache/mmtune``: decoded picture caches and the demo data set, shared by
  every trial, worker process and results directory on the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_RESULTS", "STORAGE_ENV", "cache_root", "demo_data_dir", "builtin_spaces_dir"]

DEFAULT_RESULTS = Path("results")
STORAGE_ENV = "MMTUNE_STORAGE"  # --storage's default; how worker processes receive the URL


def cache_root() -> Path:
    """The directory that holds picture caches and the demo data."""
    explicit = os.environ.get("MMTUNE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "mmtune"


def demo_data_dir() -> Path:
    """Where the default demo data set is made on first use, then reused."""
    return cache_root() / "demo"


def builtin_spaces_dir() -> Path:
    """The repository's ``search_spaces/`` folder (beside the package)."""
    return Path(__file__).resolve().parent.parent / "search_spaces"
