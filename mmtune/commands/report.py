"""``mmtune report``: write a study's self-contained HTML report and print its path."""

from __future__ import annotations

import argparse
import sys

from mmtune.ledger.store import Ledger, latest_note


def report(args: argparse.Namespace) -> int:
    from mmtune.locations import writable_dir
    from mmtune.report.html import write_report

    writable_dir(args.results, "--results")
    path, name, was_latest = write_report(Ledger(args.results, args.storage), args.study)
    if was_latest:
        print(latest_note(name), file=sys.stderr)
    print(path)
    return 0
