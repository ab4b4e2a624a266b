"""Every picture decoded, in chunks of rows, over processes when there are enough of them.

The pool starts its processes with ``forkserver`` (``spawn`` where there is none): forking a
process that has TensorFlow's threads running is not safe. Each chunk's pictures are handed
on as soon as they are decoded and then freed, so a build never holds the whole array.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from mmtune.data import picture_decode
from mmtune.data.picture_decode import PictureInfo

__all__ = ["decode_all"]


def decode_all(
    paths: Sequence[str], resolution: int, workers: int | None
) -> Iterator[tuple[int, np.ndarray, list[PictureInfo]]]:
    """Yield ``(first row, pictures, infos)`` chunks, decoded in parallel when worth it
    (``workers``: processes; ``None``: every core, one for fewer than 256 pictures)."""
    n = len(paths)
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    if workers is None:
        workers = cores if n >= 256 else 1
    workers = max(1, min(int(workers), n))
    chunk = max(8, min(256, -(-n // (workers * 8)))) if n else 1
    starts = range(0, n, chunk)
    decode = picture_decode.decode_chunk  # looked up at the call: a test may replace it
    if workers == 1:
        for start in starts:
            yield (start, *decode(list(paths[start : start + chunk]), resolution))
        return

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # forkserver: safe when the caller has TensorFlow's threads running (fork is not).
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context(method)
    ) as pool:
        futures = {pool.submit(decode, list(paths[s : s + chunk]), resolution): s for s in starts}
        for future in as_completed(futures):
            # popped, so that a chunk's pictures are freed once stored: kept in the dict,
            # every decoded chunk stayed alive until the build's end (the whole array again)
            yield (futures.pop(future), *future.result())
            del future
