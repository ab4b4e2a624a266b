"""``mmtune results``: the leaderboard, or one trial's whole record."""

from __future__ import annotations

import argparse
import sys

from mmtune.ledger.leaderboard import leaderboard_rows, render, render_trial, trial_record
from mmtune.ledger.store import Ledger, latest_note


def results(args: argparse.Namespace) -> int:
    ledger = Ledger(args.results, args.storage)
    study, name, was_latest = ledger.load_study(args.study)
    if was_latest:
        print(latest_note(name), file=sys.stderr)
    if args.trial is not None:
        print(render_trial(trial_record(study, args.trial), args.format))
        return 0
    rows = leaderboard_rows(study, top=args.top)
    if not rows and args.format == "table":
        print(f"study {name!r} has no trials yet")
        return 0
    print(render(rows, args.format))
    return 0
