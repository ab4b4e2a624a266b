"""Write to a temporary name beside the target, rename when whole.

A crash (or a full disk) mid-write leaves the previous file in place and at
worst a ``.tmp-*`` file beside it, never a half-written target. Files that go
together (refit's model, submission and record) are written into a staging
folder that replaces the previous folder whole (:func:`atomic_folder`): a
reader sees the old set or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mmtune.errors import MmtuneError

__all__ = [
    "atomic_folder",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_folder_target",
]


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


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target`` (``<name>.staging-XXXX``); on success
    it replaces ``target`` whole. On Linux the two folders are exchanged in one step
    (``renameat2(RENAME_EXCHANGE)``), so ``target`` is always there; elsewhere the old folder
    is renamed aside (``<name>.old-XXXX``) and the staging folder into place. The old
    folder is then deleted. On any exception the staging folder is removed and ``target``
    is untouched.

    What a killed run left (staging and old folders) is cleaned first; had it been killed
    between its two renames, its old folder is put back, so ``target`` is again whole. A
    staging folder another process is still writing is locked (``flock``) and left alone.

    >>> with atomic_folder("results/study/refit") as staging:   # doctest: +SKIP
    ...     (staging / "submission.csv").write_text("id,CLASS\\n")
    """
    target = check_folder_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(target)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.staging-", dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's 0700 would make the folder private
    lock = _lock(staging)  # held until the swap: a concurrent run's clean-up skips it
    try:
        yield staging
        old = None
        if os.path.lexists(target):
            old = target.with_name(f"{target.name}.old-{staging.name.rsplit('-', 1)[1]}")
            if _exchange(staging, target):
                os.rename(staging, old)  # the old files, under a name a reader never opens
            else:
                os.rename(target, old)
                os.rename(staging, target)
        else:
            os.rename(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno == errno.ENOSPC:
            raise MmtuneError(
                f"no space left on the device while writing {target}; "
                "the previous files (if any) are unchanged"
            ) from exc
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if lock is not None:
            os.close(lock)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_folder_target(target: str | os.PathLike[str]) -> Path:
    """``target`` as a place :func:`atomic_folder` may replace: missing, or a real folder
    (never a file or a symbolic link of the user's). Call it before the work that fills it.

    Raises:
        MmtuneError: something else is there.
    """
    target = Path(target)
    if os.path.lexists(target) and (os.path.islink(target) or not target.is_dir()):
        raise MmtuneError(
            f"Expected {target} to be a folder mmtune wrote. Received: something else there "
            "(a file or a symbolic link), which mmtune does not replace; move it away"
        )
    return target


def _lock(folder: Path) -> int | None:
    """An exclusive ``flock`` on ``folder`` (its descriptor), or None where there is none."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return None
    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _in_use(folder: Path) -> bool:
    """True when another process holds ``folder``'s lock (it is writing there now)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _exchange(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` in one step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); False where the system or the file system cannot."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_cwd, exchange = -100, 2  # AT_FDCWD, RENAME_EXCHANGE
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _clean_leftovers(target: Path) -> None:
    """Remove the staging and old folders a killed :func:`atomic_folder` left beside
    ``target``; when ``target`` itself is gone (killed between the two renames), the newest
    old folder becomes ``target`` again."""
    olds = sorted(
        target.parent.glob(f"{target.name}.old-*"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    if olds and not os.path.lexists(target):
        os.rename(olds.pop(0), target)
    for leftover in [*olds, *target.parent.glob(f"{target.name}.staging-*")]:
        if not _in_use(leftover):  # another refit of the same study writing there now
            shutil.rmtree(leftover, ignore_errors=True)


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
