"""What the data contract's CSV check costs at the competition's size, against a plain read.

    python benchmarks/contract_check.py [--rows 13802] [--test 3450] [--mfcc 104] [--repeats 3]

It writes a data directory of ``--rows`` labelled and ``--test`` unlabelled rows of ``--mfcc``
random MFCC values (six decimals, as the competition's CSVs), every picture a hard link to one
8x8 PNG, and times, fastest of ``--repeats`` with the files in the page cache:

- ``read_tables``: the whole check (every cell read as text and parsed, short rows, names,
  classes, picture paths resolved inside the folder), what every verb pays before it runs;
- ``pandas.read_csv`` of the same two files with its own float parsing, checking nothing.

The ratio of the two is the target (benchmarks/README.md); seconds on their own depend on the
machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from pipeline import timed  # the fastest of n runs, as every timing benchmark here

ROOT = Path(__file__).resolve().parent.parent


def write_csvs(folder: Path, rows: int, test: int, mfcc: int) -> None:
    """The two CSVs and their pictures (hard links to one PNG), as the competition lays them."""
    from PIL import Image

    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "p.png")
    rng = np.random.default_rng(0)
    header = ",".join(["IMAGE", *(f"mfcc_{i}" for i in range(1, mfcc + 1))])
    for name, count, prefix in (
        ("data_train.csv", rows, "train"),
        ("data_test_novt.csv", test, "test"),
    ):
        values = np.char.mod("%.6f", rng.normal(size=(count, mfcc)))
        lines = [header + (",CLASS" if prefix == "train" else "")]
        for i in range(count):
            picture = f"{prefix}img_{i:05d}.png"
            os.link(folder / "p.png", folder / picture)
            label = [str(i % 9)] if prefix == "train" else []
            lines.append(",".join([picture, *values[i], *label]))
        (folder / name).write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=13_802)
    parser.add_argument("--test", type=int, default=3_450)
    parser.add_argument("--mfcc", type=int, default=104)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from mmtune.data.contract import read_tables

    with tempfile.TemporaryDirectory(prefix="mmtune-contract-") as tmp:
        folder = Path(tmp) / "data"
        write_csvs(folder, args.rows, args.test, args.mfcc)
        tables = read_tables(folder)  # once untimed: the files are in the page cache after
        assert tables.train_mfcc.shape == (args.rows, args.mfcc), tables.train_mfcc.shape
        files = [folder / "data_train.csv", folder / "data_test_novt.csv"]
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        check = timed(lambda: read_tables(folder), args.repeats)
        plain = timed(lambda: [pd.read_csv(f) for f in files], args.repeats)
    print(f"{args.rows:,} + {args.test:,} rows of {args.mfcc} MFCC, {megabytes:,.1f} MB of CSV")
    print("| what | seconds | per row |\n|---|---|---|")
    total = args.rows + args.test
    for what, seconds in (
        ("read_tables (the check)", check),
        ("pandas.read_csv (no check)", plain),
    ):
        print(f"| {what} | {seconds:.3f} | {seconds / total * 1e6:,.0f} us |")
    print(f"the check costs {check / plain:.2f}x a plain pandas read")


if __name__ == "__main__":
    main()
