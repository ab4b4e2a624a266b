"""Epoch time of the seed's direct_mix under each compute option: feed (pipeline / device),
precision (float32 / mixed) and XLA (off / on), on whatever device TensorFlow sees.

    python benchmarks/compute.py [--data DIR] [--epochs 3] [--resolution 64]

Each configuration trains a fresh model for --epochs epochs with mmtune's own training code
(mmtune.model.training.train_model) and reports the fastest epoch after the first (which includes
tracing and compilation), as samples/s, and the ratio to the float32 / pipeline / no-XLA baseline.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data dir (default: the demo data)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args()

    from mmtune.keras_backend import device_description, set_precision, start

    start()
    import keras

    from mmtune.data.demo import ensure_demo
    from mmtune.data.trial_data import DataSource
    from mmtune.model.training import TrainOptions, train_model

    data_dir = Path(args.data) if args.data else ensure_demo()
    split = DataSource(data_dir).get(args.resolution)
    rows = len(split.train_idx)
    print(
        f"device: {device_description()}; {rows} training rows at {args.resolution}px, "
        f"direct_mix (seed's parameters), batch 32"
    )
    print("| feed | precision | XLA | epoch (s) | samples/s | x baseline |")
    print("|---|---|---|---|---|---|")
    baseline = None
    for feed, precision, jit in itertools.product(
        ("pipeline", "device"), ("float32", "mixed"), (False, True)
    ):
        policy = set_precision(precision)
        epoch_times: list[float] = []
        last = [time.perf_counter()]

        def tick(epoch: int, logs: dict) -> None:
            now = time.perf_counter()
            epoch_times.append(now - last[0])
            last[0] = now

        last[0] = time.perf_counter()
        train_model(
            "direct_mix",
            {"resolution": args.resolution},
            split,
            TrainOptions(epochs=args.epochs, feed=feed, jit_compile=jit),
            seed=0,
            report=tick,
        )
        keras.backend.clear_session()
        best = min(epoch_times[1:] or epoch_times)
        speed = rows / best
        baseline = baseline or speed
        print(
            f"| {feed} | {policy} | {'on' if jit else 'off'} | {best:.2f} | {speed:,.0f} | "
            f"{speed / baseline:.2f}x |",
            flush=True,
        )
    set_precision("float32")


if __name__ == "__main__":
    main()
