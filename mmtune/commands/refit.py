"""``mmtune refit``: retrain the winner (or chosen trials) on all labelled data, write the
submission."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmtune.errors import shown


def refit(args: argparse.Namespace) -> int:
    from mmtune.locations import writable_dir
    from mmtune.refit.run import RefitConfig, run_refit

    writable_dir(args.results, "--results")

    cfg = RefitConfig(
        results_dir=Path(args.results),
        storage=args.storage,
        study=args.study,
        trial=None if args.best else args.trial,
        ensemble=args.ensemble,
        seeds=args.seeds,
        seed=args.seed,
        check=not args.no_check,
        candidates=args.candidates,
        data_dir=Path(args.data) if args.data else None,
        force=args.force,
        precision=args.precision,
        jit=args.jit,
        feed=args.feed,
    )
    outcome = run_refit(cfg)
    for trial in dict.fromkeys(m.trial for m in outcome.members):  # one line a configuration
        same = [m for m in outcome.members if m.trial == trial]
        m = same[0]
        check = (
            f", honest check {m.check_val_accuracy:.4f} vs leaderboard {m.search_val_accuracy:.4f}"
            if m.check_val_accuracy is not None and m.search_val_accuracy is not None
            else ""
        )
        seeds = ("seeds " if len(same) > 1 else "seed ") + ", ".join(str(s.seed) for s in same)
        files = ", ".join(dict.fromkeys(str(outcome.out_dir / s.model_file) for s in same))
        print(f"trial {trial} {seeds}: {m.epochs} epochs{check} -> {files}")
    counts = ", ".join(f"{k} {v}" for k, v in outcome.class_counts.items())
    print("predicted classes: " + shown(counts, None, quoted=False))  # class names, escaped
    print(f"submission: {outcome.submission}")
    print(f"record:     {outcome.record}")
    if outcome.warning:
        print(outcome.warning)
    return 0
