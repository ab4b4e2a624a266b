"""Files that are files: what a path is, in words, and opening only regular files.

A picture path, a CSV or ``class_names.txt`` may name a FIFO, a folder, a device or a socket,
or be swapped for one between a check and a read. Reading a FIFO blocks until someone writes
to it (a search hung for ever), so every data file is opened with :func:`open_regular`: the
path is looked at first (a device is never opened), then opened without blocking
(``O_NONBLOCK``) and looked at again through the open descriptor (``fstat``): a swap in
between is caught too. What is not a regular file is named for what it is.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> os.mkfifo(os.path.join(folder, "pipe.png"))
>>> describe(os.path.join(folder, "pipe.png"))
'a FIFO (named pipe)'
>>> open_regular(os.path.join(folder, "pipe.png"))  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
...
mmtune.file_kinds.NotAFile: a FIFO (named pipe), not a regular file
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["NotAFile", "describe", "is_regular", "kind_of", "open_regular", "read_at_most"]

_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


class NotAFile(OSError):
    """The path exists but is not a regular file; ``kind`` says what it is."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind}, not a regular file")
        self.kind = kind
        self.strerror = str(self)


def kind_of(mode: int) -> str:
    """What a ``st_mode`` is, in words."""
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def describe(path: str | os.PathLike[str]) -> str:
    """What ``path`` is, in words: ``"missing"``, ``"a folder"``, ``"a FIFO (named pipe)"``,
    ``"a symbolic link to nothing"`` ... (symbolic links followed)."""
    try:
        return kind_of(os.stat(path).st_mode)
    except FileNotFoundError:
        return "a symbolic link to nothing" if os.path.islink(path) else "missing"
    except (OSError, ValueError) as exc:
        return f"unreadable ({getattr(exc, 'strerror', None) or exc})"


def open_regular(path: str | os.PathLike[str], *, follow: bool = True) -> BinaryIO:
    """Open ``path`` for reading in binary, only when it is a regular file; never blocks.

    ``follow=False`` refuses a symbolic link (``O_NOFOLLOW``): a path checked to lead inside
    a folder cannot be swapped for a link pointing elsewhere.

    Raises:
        NotAFile: ``path`` is a folder, a FIFO, a device, a socket (checked before opening and
            again on the open descriptor).
        OSError: it cannot be opened (missing, no permission, a link with ``follow=False``).
    """
    mode = os.stat(path, follow_symlinks=follow).st_mode
    if not stat.S_ISREG(mode) and not (stat.S_ISLNK(mode) and not follow):
        raise NotAFile(kind_of(mode))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped between the look and the open
            raise NotAFile(kind_of(mode))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def is_regular(path: str | os.PathLike[str] | Path) -> bool:
    """True for a regular file (symbolic links followed); never raises."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_at_most(fh: BinaryIO, limit: int) -> bytes:
    """The file's bytes to its end, or its first ``limit + 1`` (more than ``limit`` tells the
    caller it is over), sized by ``fstat``: ``fh.read(limit + 1)`` allocates the whole limit
    at once, whatever the file (1 GB for every CSV, 64 MB for every picture). A file that
    grew since ``fstat`` is read on, in 1 MB pieces, up to the same cap.
    """
    wanted = min(os.fstat(fh.fileno()).st_size, limit) + 1
    pieces = [fh.read(wanted)]
    total = len(pieces[0])
    while total == wanted <= limit:  # every byte asked for came: the file may go on
        ask = min(limit + 1 - total, 1 << 20)
        pieces.append(fh.read(ask))
        total, wanted = total + len(pieces[-1]), total + ask
    return b"".join(pieces)
