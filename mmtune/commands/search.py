"""``mmtune search``: run or resume a hyperparameter search."""

from __future__ import annotations

import argparse
import os
import sys
import time

from mmtune.commands.common import resolve_data_dir
from mmtune.locations import writable_dir
from mmtune.search.memory import STARTED_ENV, TRIAL_NEED_ENV, RecycleProcess, reexec_self
from mmtune.search.progress import format_duration


def worker_argv(args: argparse.Namespace) -> list[str]:
    """The command line one worker process runs: this search, every flag as given (read from
    the parser, :func:`mmtune.cli.command_line`), as a single worker.

    The storage URL is not on it (a command line is visible to every user in ``ps``): the
    workers read it from ``$MMTUNE_STORAGE`` (:data:`mmtune.locations.STORAGE_ENV`).
    """
    from mmtune.cli import command_line

    return command_line("search", args, leave_out=("storage",), values={"workers": 1})


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

    cfg = SearchConfig.from_args(args, space, data_dir)
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
