"""``mmtune report``: write a study's self-contained HTML report and print its path."""

from __future__ import annotations

import argparse
import sys

from mmtune.ledger.store import Ledger


def report(args: argparse.Namespace) -> int:
    from mmtune.report.html import write_report

    path, name, was_latest = write_report(Ledger(args.results, args.storage), args.study)
    if was_latest:
        print(f"study {name!r} (the latest; --study NAME for another)", file=sys.stderr)
    print(path)
    return 0
