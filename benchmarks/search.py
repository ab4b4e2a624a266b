"""The README's search, measured: wall time, trials per minute, resident memory over the trials,
and search efficiency (best validation accuracy against total epochs) of several tuners.

    python benchmarks/search.py                           # the README's search, cold, on the demo data
    python benchmarks/search.py --tuners tpe random --trials 40 --out benchmarks/search.json

Each tuner runs in a fresh results directory and a fresh process (cold: TensorFlow import and,
with --cold-cache, the picture cache build included). Memory is sampled from /proc every 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import optuna


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree_rss_mb(pid: int) -> float:
    """RSS of a process and its children (cache-building workers included)."""
    total = _rss_mb(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(_tree_rss_mb(int(c)) for c in children)


def run_one(
    tuner: str, trials: int, space: str, data: str | None, results: Path, extra: list[str]
) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "mmtune",
        "search",
        "--space",
        space,
        "--trials",
        str(trials),
        "--tuner",
        tuner,
        "--results",
        str(results),
        *extra,
    ]
    if data:
        cmd += ["--data", data]
    samples: list[tuple[float, float]] = []
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []

    def read_stderr() -> None:
        for line in proc.stderr:
            lines.append((time.perf_counter() - started, line.rstrip()))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    while proc.poll() is None:
        samples.append((time.perf_counter() - started, _tree_rss_mb(proc.pid)))
        time.sleep(0.5)
    reader.join()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"search failed ({proc.returncode}):\n" + "\n".join(l for _, l in lines[-20:])
        )
    trial_ends = [t for t, line in lines if line.startswith("trial #")]
    rss_at_trial = []
    for t_end in trial_ends:
        before = [mb for t, mb in samples if t <= t_end]
        rss_at_trial.append(round(before[-1], 1) if before else None)
    study = optuna.load_study(
        study_name=Path(space).stem if space.endswith(".yaml") else space,
        storage=f"sqlite:///{results / 'ledger.sqlite3'}",
    )
    trials_ = study.get_trials(deepcopy=False)
    epochs = sum(int(t.user_attrs.get("epochs", 0)) for t in trials_)
    best_so_far, curve = 0.0, []
    spent = 0
    for t in sorted(trials_, key=lambda t: t.number):
        spent += int(t.user_attrs.get("epochs", 0))
        acc = max(t.user_attrs.get("val_accuracy_curve") or [0.0])
        best_so_far = max(best_so_far, acc)
        curve.append((spent, round(best_so_far, 4)))
    states = {}
    for t in trials_:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    quarter = max(1, len(rss_at_trial) // 4)
    return {
        "tuner": tuner,
        "trials": len(trials_),
        "states": states,
        "wall_s": round(wall, 1),
        "trials_per_min": round(len(trials_) / wall * 60, 2),
        "total_epochs": epochs,
        "best_val_accuracy": best_so_far,
        "best_vs_epochs": curve,
        "peak_rss_mb": round(max(mb for _, mb in samples), 1) if samples else None,
        "rss_after_first_quarter_mb": rss_at_trial[quarter - 1] if rss_at_trial else None,
        "rss_after_last_trial_mb": rss_at_trial[-1] if rss_at_trial else None,
        "rss_per_trial_mb": rss_at_trial,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="direct_mix")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--tuners", nargs="+", default=["tpe"])
    parser.add_argument("--data", default=None, help="data dir (default: the demo data)")
    parser.add_argument(
        "--cold-cache",
        action="store_true",
        help="use an empty cache dir, so the first run builds the demo and cache",
    )
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    parser.add_argument("extra", nargs="*", help="more `mmtune search` flags, after --")
    args = parser.parse_args()
    if args.cold_cache:
        os.environ["MMTUNE_CACHE_DIR"] = tempfile.mkdtemp(prefix="mmtune-bench-cache-")
    figures = []
    for tuner in args.tuners:
        with tempfile.TemporaryDirectory(prefix=f"mmtune-bench-{tuner}-") as tmp:
            result = run_one(tuner, args.trials, args.space, args.data, Path(tmp), args.extra)
        figures.append(result)
        print(
            f"{tuner:10s} trials {result['trials']:3d} {result['states']}  wall {result['wall_s']:7.1f}s "
            f"({result['trials_per_min']:.2f}/min)  epochs {result['total_epochs']:4d}  "
            f"best {result['best_val_accuracy']:.4f}  peak RSS {result['peak_rss_mb']} MB "
            f"(after 1/4 of trials {result['rss_after_first_quarter_mb']} MB, "
            f"after the last {result['rss_after_last_trial_mb']} MB)",
            flush=True,
        )
    if len(figures) > 1:
        ref = figures[-1]
        for f in figures[:-1]:
            print(
                f"{f['tuner']} vs {ref['tuner']}: best {f['best_val_accuracy'] - ref['best_val_accuracy']:+.4f} "
                f"at {f['total_epochs'] / max(ref['total_epochs'], 1):.0%} of the epochs"
            )
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
