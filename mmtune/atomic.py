"""Write to a temporary name beside the target, rename when whole.

A crash (or a full disk) mid-write leaves the previous file in place and at
worst a ``.tmp-*`` file beside it, never a half-written target.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mmtune.errors import MmtuneError

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_bytes"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    ``suffix`` keeps the extension writers look at (Keras wants ``.keras``).
    On any exception the temporary file is removed and ``target`` is untouched.

    >>> with atomic_path("out.csv") as tmp:          # doctest: +SKIP
    ...     tmp.write_text("id,CLASS\\n")
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".tmp-{target.name}-", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make the result private
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise MmtuneError(
                f"no space left on the device while writing {target}; "
                "the previous file (if any) is unchanged"
            ) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (Linux: /proc/self/status). Setting it
    to read it, as ``os.umask`` does, would for a moment give every file that other threads
    (TensorFlow's) create the mode 0666; where /proc cannot tell, the safe 0o022 is assumed."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))
