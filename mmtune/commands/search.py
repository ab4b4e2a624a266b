"""``mmtune search``: run or resume a hyperparameter search."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from mmtune.commands.common import resolve_data_dir
from mmtune.locations import writable_dir
from mmtune.search.memory import STARTED_ENV, TRIAL_NEED_ENV, RecycleProcess, reexec_self
from mmtune.search.progress import format_duration


def worker_argv(args: argparse.Namespace) -> list[str]:
    """The command line one worker process runs: this search, as a single worker.

    The storage URL is not on it (a command line is visible to every user in ``ps``): the
    workers read it from ``$MMTUNE_STORAGE`` (:data:`mmtune.locations.STORAGE_ENV`).
    """
    argv = [
        "search",
        "--space",
        args.space,
        "--trials",
        str(args.trials),
        "--tuner",
        args.tuner,
        "--pruner",
        args.pruner,
        "--results",
        args.results,
        "--seed",
        str(args.seed),
        "--max-failures",
        str(args.max_failures),
        "--max-skips",
        str(args.max_skips),
        "--heartbeat",
        str(args.heartbeat),
        "--patience",
        str(args.patience),
        "--precision",
        args.precision,
        "--jit",
        args.jit,
        "--feed",
        args.feed,
        "--max-params",
        str(args.max_params),
        "--max-cost",
        str(args.max_cost),
        "--recycle-mb",
        str(args.recycle_mb),
        "--max-memory-mb",
        str(args.max_memory_mb),
        "--finalists",
        str(args.finalists),
        "--repeats",
        str(args.repeats),
        "--workers",
        "1",
    ]
    for flag, value in (
        ("--data", args.data),
        ("--study", args.study),
        ("--warm-start", args.warm_start),
        ("--max-epochs", args.max_epochs),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if args.tensorboard:
        argv.append("--tensorboard")
    if args.no_portfolio:
        argv.append("--no-portfolio")
    return argv


def search(args: argparse.Namespace) -> int:
    started = float(os.environ.get(STARTED_ENV) or time.time())
    from mmtune.search.space_files import load_space

    space = load_space(args.space)  # a bad space file is refused before anything else
    writable_dir(args.results, "--results")
    from mmtune.ledger.store import Ledger

    Ledger(args.results, args.storage)  # an in-memory --storage is refused before the data check
    data_dir = resolve_data_dir(args.data)
    if args.max_memory_mb is None:  # the workers are given the share the parent worked out
        from mmtune.search.memory import default_ceiling_mb

        args.max_memory_mb = default_ceiling_mb(args.workers) or 0
    from mmtune.search.config import SearchConfig
    from mmtune.search.run import run_search

    cfg = SearchConfig(
        space=space,
        data_dir=data_dir,
        trials=args.trials,
        tuner=args.tuner,
        pruner=args.pruner,
        max_epochs=args.max_epochs,
        study=args.study,
        results_dir=Path(args.results),
        storage=args.storage,
        seed=args.seed,
        tensorboard=args.tensorboard,
        max_failures=args.max_failures,
        workers=args.workers,
        heartbeat=args.heartbeat,
        patience=args.patience,
        precision=args.precision,
        jit=args.jit,
        feed=args.feed,
        max_params=args.max_params or None,
        max_cost=args.max_cost or None,
        finalists=args.finalists,
        repeats=args.repeats,
        max_skips=args.max_skips,
        warm_start=args.warm_start,
        portfolio=not args.no_portfolio,
        recycle_mb=(args.recycle_mb or None) if args.own_process else None,
        max_memory_mb=(args.max_memory_mb or None) if args.own_process else None,
    )
    if args.workers > 1:
        from mmtune.search.workers import run_workers

        return run_workers(cfg, worker_argv(args))
    try:
        outcome = run_search(cfg)
    except RecycleProcess as exc:
        print(
            f"mmtune: {exc}: restarting the search process; it resumes from the ledger",
            file=sys.stderr,
        )
        os.environ.setdefault(STARTED_ENV, str(started))
        os.environ[TRIAL_NEED_ENV] = f"{exc.trial_need_mb:.0f}"
        reexec_self(sys.argv[1:])
    evals = f", mean of {outcome.best_evals} evaluations" if outcome.best_evals > 1 else ""
    best = (
        f"best val_accuracy {outcome.best_value:.4f} (trial {outcome.best_trial}{evals})"
        if outcome.best_value is not None
        else "no completed trial yet"
    )
    print(
        f"study {outcome.study_name!r}: {outcome.trials_done} trials done "
        f"({format_duration(time.time() - started)}); {best}"
    )
    results_flag = f" --results {args.results}" if args.results != "results" else ""
    print(
        f"next: mmtune results --study {outcome.study_name}{results_flag}; "
        f"mmtune refit --best --study {outcome.study_name}{results_flag}"
    )
    return 0
