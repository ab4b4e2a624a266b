"""The C-level stderr hidden while a backend starts (``MMTUNE_TF_VERBOSE=1`` shows it)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_c_stderr() -> Iterator[None]:
    """File descriptor 2 points at ``/dev/null`` inside the block: what C++ libraries print
    while they load (no Python setting reaches it) is dropped; Python's own errors raised in
    the block still propagate."""
    if os.environ.get("MMTUNE_TF_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
