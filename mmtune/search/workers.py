"""``mmtune search --workers N``: N local worker processes on one shared study.

The parent checks the data (building the picture cache once, for every
worker) and creates the study; each worker is a plain ``mmtune search``
process on the same storage, so workers on other machines join the same way.
Workers run this very package (:mod:`mmtune.launch`), never a ``./mmtune/`` folder of the
working directory. Optuna's RDB storage hands out trials, and its heartbeats fail and requeue
the trial of a worker that dies. SQLite is refused: it is not safe for
several writers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from mmtune.errors import MmtuneError
from mmtune.launch import mmtune_command
from mmtune.locations import STORAGE_ENV
from mmtune.redact import redact_url
from mmtune.search.config import SearchConfig
from mmtune.search.run import prepare_search
from mmtune.search.tuners import names_that, tuner_named

__all__ = ["run_workers", "worker_environments"]


def worker_environments(
    workers: int, base: dict[str, str] | None = None, storage: str | None = None
) -> list[dict[str, str]]:
    """One environment per worker: with several GPUs listed in ``CUDA_VISIBLE_DEVICES``,
    workers are spread over them round-robin; otherwise they share what there is, each told
    by its backend how (:func:`mmtune.keras_backend.shared_device_environment`: on JAX no
    preallocation and a share of the GPU each; TensorFlow's memory grows on demand).
    ``storage`` travels in ``$MMTUNE_STORAGE``, never on a command line."""
    from mmtune import keras_backend

    base = dict(os.environ if base is None else base)
    if storage:
        base[STORAGE_ENV] = storage
    devices = [d for d in base.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    envs = []
    for k in range(workers):
        env = dict(base)
        if len(devices) > 1:
            env["CUDA_VISIBLE_DEVICES"] = devices[k % len(devices)]
        sharing = len(range(k % max(len(devices), 1), workers, max(len(devices), 1)))
        env.update(keras_backend.shared_device_environment(sharing))
        envs.append(env)
    return envs


def run_workers(cfg: SearchConfig, worker_argv: list[str]) -> int:
    """Prepare the study, start ``cfg.workers`` workers, wait for them all."""
    tuner = tuner_named(cfg.tuner)
    if not tuner.workers:
        raise MmtuneError(
            f"--workers needs a tuner several workers share ({', '.join(names_that('workers'))}); "
            f"{tuner.family}'s {cfg.tuner} runs as one process"
        )
    from mmtune.ledger.store import Ledger

    if Ledger(cfg.results_dir, cfg.storage).is_sqlite:
        raise MmtuneError(
            f"--workers {cfg.workers} needs a storage several processes can write at once; "
            "SQLite is not safe for that. Use PostgreSQL: --storage "
            "postgresql+psycopg://USER:PASSWORD@HOST/DB (pip install 'mmtune[postgres]'), "
            "or run one worker at a time on SQLite."
        )
    prepare_search(cfg)  # data check and cache build once; the study exists before workers race
    shown_storage = redact_url(cfg.storage or "")
    print(
        f"starting {cfg.workers} workers on {shown_storage}",
        file=sys.stderr,
        flush=True,
    )
    # Each worker in a session of its own: a terminal's Ctrl-C reaches the parent alone, which
    # passes it on once (workers in the terminal's process group got it twice).
    procs = [
        subprocess.Popen(mmtune_command(worker_argv), env=env, start_new_session=True)
        for env in worker_environments(cfg.workers, storage=cfg.storage)
    ]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        raise
    failed = [c for c in codes if c != 0]
    if failed:
        print(
            f"mmtune: {len(failed)} of {cfg.workers} workers failed (exit codes {codes})",
            file=sys.stderr,
        )
        return failed[0]
    print(
        f"all {cfg.workers} workers finished; `mmtune results --storage {shown_storage}`",
        file=sys.stderr,
    )
    return 0
