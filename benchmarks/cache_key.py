"""What keying the picture cache on the pictures' bytes costs, against decoding them.

    python benchmarks/cache_key.py [--data DIR] [--repeats 3]

Without ``--data`` it writes 1,000 pictures of 256x256 RGB PNG (800 labelled, 200 test) with
``tests/tinydata.py``. It times, fastest of ``--repeats`` with the files in the page cache:
``os.stat`` of every picture (the old key: sizes and times), the sha256 of every picture's
bytes (the key since cache format 2, what every load pays), and the cache's first build
(decoding every picture once, serial, what a miss pays).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from pipeline import timed  # the fastest of n runs, as every timing benchmark here

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a data directory (default: 1,000 generated 256x256 PNGs)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from mmtune.data.contract import read_tables
    from mmtune.data.decode_pool import decode_all
    from mmtune.data.picture_hash import fingerprints

    if args.data:
        data = Path(args.data)
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from tinydata import write_dataset

        data = Path(tempfile.mkdtemp(prefix="mmtune-cache-key-")) / "data"
        write_dataset(data, n_train=800, n_test=200, n_mfcc=104, n_classes=9, size=256)
    tables = read_tables(data)
    names = list(tables.train_images) + list(tables.test_images)
    paths = [str(tables.image_path(n)) for n in names]
    megabytes = sum(os.stat(p).st_size for p in paths) / 1e6

    stat = timed(lambda: [os.stat(p) for p in paths], args.repeats)
    digest = timed(lambda: fingerprints(tables, names, paths), args.repeats)
    build = timed(lambda: [None for _ in decode_all(paths, 64, 1)], 1)
    print(f"{len(paths):,} pictures, {megabytes:,.1f} MB, in {data}")
    print("| what | seconds | per picture |\n|---|---|---|")
    for what, seconds in (
        ("stat every file (the old key)", stat),
        ("sha256 of every file's bytes (the key)", digest),
        ("decode every file at 64 px (a miss)", build),
    ):
        print(f"| {what} | {seconds:.3f} | {seconds / len(paths) * 1e6:,.0f} us |")
    print(f"hashing costs {digest / build:.1%} of decoding")


if __name__ == "__main__":
    main()
