"""Does a trial repeat? The seed's direct_mix trained twice with the same seed, with and
without TensorFlow's op determinism, each run in a fresh process, alone and beside a
CPU-bound neighbour (another training): the accuracies of every epoch, and the epoch time.

    python benchmarks/determinism.py [--data DIR] [--epochs 3] [--resolution 64]

On a CPU, TensorFlow's default kernels may add partial sums in the order threads finish;
a trial's figures then depend on what else the machine is doing. With
``tf.config.experimental.enable_op_determinism()`` they may not. Reports, per mode, whether
the runs agree to the bit and the median epoch time (after the first), as a ratio to the
default's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

_RUN = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from pathlib import Path
from mmtune.keras_backend import start

start()
import tensorflow as tf
if sys.argv[1] == "deterministic":
    tf.config.experimental.enable_op_determinism()
from mmtune.data.demo import ensure_demo
from mmtune.data.trial_data import DataSource
from mmtune.model.training import TrainOptions, train_model
data = Path(sys.argv[2]) if sys.argv[2] else ensure_demo()
split = DataSource(data).get(int(sys.argv[4]))
marks = [time.perf_counter()]
result = train_model(
    "direct_mix", {"resolution": int(sys.argv[4])}, split,
    TrainOptions(epochs=int(sys.argv[3])), seed=0,
    report=lambda epoch, logs: marks.append(time.perf_counter()),
)
print(json.dumps({
    "val_accuracy": [float(v) for v in result.curves["val_accuracy"]],
    "loss": [float(v) for v in result.curves["loss"]],
    "epoch_s": [b - a for a, b in zip(marks, marks[1:])],
}))
"""


def _train(mode: str, args: argparse.Namespace, neighbour: bool) -> dict:
    """One training in a fresh process; with ``neighbour``, another one runs beside it."""
    cmd = [sys.executable, "-c", _RUN, mode, args.data or "", str(args.epochs)]
    cmd.append(str(args.resolution))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    other = (
        subprocess.Popen(
            [*cmd[:3], "default", *cmd[4:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if neighbour
        else None
    )
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    finally:
        if other is not None:
            other.wait()
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data dir (default: the demo data)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--out", default=None, help="JSON file of every figure")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {}
    for mode in ("default", "deterministic"):
        runs[mode] = [_train(mode, args, neighbour) for neighbour in (False, True, False)]
    if args.out:
        Path(args.out).write_text(json.dumps(runs, indent=2))

    def epoch_s(rs: list[dict]) -> float:  # the runs alone: the first and the last
        return statistics.median(e for r in (rs[0], rs[-1]) for e in r["epoch_s"][1:])

    base = epoch_s(runs["default"])
    print(
        "| mode | val_accuracy per epoch (alone; beside a neighbour; alone) | repeats "
        "| epoch alone (s, median after the first) | x default |"
    )
    print("|---|---|---|---|---|")
    for mode, rs in runs.items():
        same = all(r["loss"] == rs[0]["loss"] for r in rs)
        epoch = epoch_s(rs)
        curves = "; ".join(" ".join(f"{v:.3f}" for v in r["val_accuracy"]) for r in rs)
        repeats = "yes" if same else "NO"
        print(f"| {mode} | {curves} | {repeats} | {epoch:.2f} | {epoch / base:.2f}x |")


if __name__ == "__main__":
    main()
