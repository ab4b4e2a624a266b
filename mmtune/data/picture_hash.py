"""What the picture cache is keyed by: the sha256 of every picture file's bytes and of both
CSVs, read without decoding (0.19 s for 1,000 PNGs of 256x256, 148 MB, against 2.65 s to
decode them, on a shared 2-core CPU: ``benchmarks/cache_key.py``). A picture replaced by
other pixels, whatever its size and modification time, changes the data's hash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mmtune.data.picture_decode import MAX_PICTURE_BYTES
from mmtune.errors import DataError, Problem, shown
from mmtune.file_kinds import NotAFile, open_regular

if TYPE_CHECKING:
    from mmtune.data.contract import Tables

__all__ = ["fingerprints", "file_sha256", "data_hash"]

_HASH_CHUNK = 1 << 20


def fingerprints(tables: Tables, names: Sequence[str], paths: Sequence[str]) -> list[str]:
    """The sha256 of every picture file's bytes, in row order.

    A file over :data:`MAX_PICTURE_BYTES` is refused from its size, without reading it; a
    file that cannot be read is refused too: both raise :class:`DataError` with the row.
    """
    digests: list[str] = []
    problems: list[Problem] = []
    for index, (name, path) in enumerate(zip(names, paths)):
        digest, error = file_sha256(path)
        digests.append(digest)
        if error:
            csv_name, row = tables.picture_row(index)
            problems.append(
                Problem(
                    csv_name, f"the picture file {shown(name)} {error}", row=row, column="IMAGE"
                )
            )
    if problems:
        raise DataError(list(tables.warnings) + problems, str(tables.data_dir))
    return digests


def file_sha256(path: str) -> tuple[str, str]:
    """``(sha256 hex digest, "")``, or ``("", why not)`` for a file too big or unreadable."""
    h = hashlib.sha256()
    try:
        with open_regular(path, follow=False) as fh:  # never a FIFO's endless wait
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_PICTURE_BYTES:
                return "", (
                    f"is {size / 2**20:,.0f} MB. Expected a picture file of at most "
                    f"{MAX_PICTURE_BYTES // 2**20} MB (it was not read)"
                )
            while chunk := fh.read(_HASH_CHUNK):
                h.update(chunk)
    except NotAFile as exc:
        return "", f"is {exc}"
    except OSError as exc:
        return "", f"cannot be read ({exc.strerror or exc})"
    return h.hexdigest(), ""


def data_hash(tables: Tables, digests: Sequence[str]) -> str:
    """The data's content hash: both CSVs' bytes and every picture's bytes, in row order."""
    content = hashlib.sha256(b"mmtune-data\n")
    for csv_name in sorted(tables.csv_sha256):
        content.update(f"{csv_name} {tables.csv_sha256[csv_name]}\n".encode())
    for digest in digests:
        content.update(f"{digest}\n".encode())
    return content.hexdigest()
