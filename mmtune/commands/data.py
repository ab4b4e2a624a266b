"""``mmtune data demo``: write the synthetic demo data set (no TensorFlow on this path)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmtune.errors import MmtuneError

__all__ = ["demo"]


def demo(args: argparse.Namespace) -> int:
    """Write the demo data set to ``--out`` (default: the demo cache) and say where."""
    from mmtune.data import demo as demo_data
    from mmtune.locations import demo_data_dir

    out = Path(args.out) if args.out else demo_data_dir()
    if out.exists() and not out.is_dir():
        raise MmtuneError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise MmtuneError(
            f"--out {out}: the directory is not empty; "
            "give --force to replace what is there, or another --out"
        )
    n_train = demo_data.DEFAULT_TRAIN if args.train is None else args.train
    n_test = demo_data.DEFAULT_TEST if args.test is None else args.test
    try:
        demo_data.check_sizes(n_train, n_test, args.image_size, demo_data.DEFAULT_MFCC)
        difficulty = demo_data.difficulty_named(args.difficulty)
    except ValueError as exc:
        raise MmtuneError(str(exc)) from exc
    path = demo_data.write_demo(
        out,
        n_train=n_train,
        n_test=n_test,
        seed=args.seed,
        image_size=args.image_size,
        progress=True,
        overwrite=True,
        difficulty=difficulty,
    )
    print(
        f"wrote the synthetic demo data set to {path}: {n_train} labelled rows, "
        f"{n_test} test rows, {args.image_size}x{args.image_size} pictures, "
        f"{demo_data.DEFAULT_MFCC} MFCC columns, {len(demo_data.CLASS_NAMES)} classes, "
        f"difficulty {args.difficulty} (test answers in {demo_data.ANSWERS_CSV})"
    )
    return 0
