"""``mmtune data demo``: write the synthetic demo data set (no TensorFlow on this path)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mmtune.errors import MmtuneError

__all__ = ["demo"]


def demo(args: argparse.Namespace) -> int:
    """Write the demo data set to ``--out`` (default: the demo cache) and say where."""
    from mmtune.data import demo as demo_data
    from mmtune.locations import demo_data_dir, writable_dir

    out = Path(args.out) if args.out else demo_data_dir()
    if os.path.lexists(out) and not out.is_dir():
        raise MmtuneError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise MmtuneError(
            f"--out {out}: the folder is not empty; give --force to replace the demo set "
            "there (only a demo set: other files are never deleted), or another --out"
        )
    why = demo_data.not_replaceable(out)  # --force replaces a demo set, nothing of the user's
    if why is not None:
        raise MmtuneError(why)
    writable_dir(out.absolute().parent, f"--out {out}: its folder")
    n_train = demo_data.DEFAULT_TRAIN if args.train is None else args.train
    n_test = demo_data.DEFAULT_TEST if args.test is None else args.test
    try:
        demo_data.check_sizes(n_train, n_test, args.image_size, demo_data.DEFAULT_MFCC)
        difficulty = demo_data.difficulty_named(args.difficulty)
    except ValueError as exc:
        raise MmtuneError(str(exc)) from exc
    try:
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
    except OSError as exc:  # the disk filled, the folder went read-only meanwhile
        raise MmtuneError(
            f"--out {out}: cannot write the demo data set ({exc.strerror or exc}); "
            "what was there is unchanged"
        ) from None
    print(
        f"wrote the synthetic demo data set to {path}: {n_train} labelled rows, "
        f"{n_test} test rows, {args.image_size}x{args.image_size} pictures, "
        f"{demo_data.DEFAULT_MFCC} MFCC columns, {len(demo_data.CLASS_NAMES)} classes, "
        f"difficulty {args.difficulty} (test answers in {demo_data.ANSWERS_CSV})"
    )
    return 0
