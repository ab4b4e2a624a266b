"""Epoch time of the seed's direct_mix on TensorFlow by the source of its batches' row indices:
``Dataset.from_generator`` (a Python callback once a batch, mmtune from 53e10e7 to 3fb4548)
against one ``numpy_function`` call an epoch cut into batches in TensorFlow (mmtune since).

    python benchmarks/feed_source.py [--data DIR] [--resolution 64] [--epochs 3] [--repeats 2]

Both sources give the same batches (``BatchOrder``'s); only how they reach ``fit`` differs.
Each way trains a fresh model with mmtune's trainer (``keep_val_probabilities`` on, as a search
trial trains) in a fresh process, the two ways alternating ``--repeats`` times; printed: each
run's epochs, the median of the epochs after the first (tracing excluded) each way, and their
ratio. One process per run, because the slowdown outlives its cause: in a process whose first
model was fed by ``from_generator``, every later model trained as slowly whatever its source
(one process, from_generator first: 15.2 s against 15.7 s an epoch; numpy_function first:
10.4 s against 9.3 s).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def train(source: str, data: str | None, resolution: int, epochs: int) -> list[float]:
    """Train the seed's network fed by ``source``'s index batches; each epoch's seconds."""
    from mmtune.keras_backend import start

    start()
    import numpy as np
    import tensorflow as tf

    from mmtune.data import tf_batches
    from mmtune.data.batch_order import BatchOrder
    from mmtune.data.demo import ensure_demo
    from mmtune.data.trial_data import DataSource
    from mmtune.model import training
    from mmtune.search.space_files import load_space

    def from_generator(order: BatchOrder) -> tf.data.Dataset:
        counter = itertools.count()

        def batches() -> Iterator[np.ndarray]:
            yield from order.epoch(next(counter))

        size = order.batch_size if order.whole_batches else None
        spec = tf.TensorSpec((size,), tf.int64)
        ds = tf.data.Dataset.from_generator(batches, output_signature=spec)
        return ds.apply(tf.data.experimental.assert_cardinality(len(order)))

    if source == "from_generator":
        tf_batches._batch_indices = from_generator  # type: ignore[assignment]
    split = DataSource(Path(data) if data else ensure_demo()).get(resolution)
    params = {**load_space("direct_mix").defaults(), "resolution": resolution}
    times: list[float] = []
    last = [time.perf_counter()]

    def tick(epoch: int, logs: dict) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    options = training.TrainOptions(epochs=epochs, keep_val_probabilities=True)
    training.train_model("direct_mix", params, split, options, seed=0, report=tick)
    return times


SOURCES = ("from_generator", "numpy_function")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data dir (default: the demo data)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--source", choices=SOURCES, help=argparse.SUPPRESS)  # one child run
    args = parser.parse_args()
    if args.source:
        print(json.dumps(train(args.source, args.data, args.resolution, args.epochs)))
        return
    later: dict[str, list[float]] = {name: [] for name in SOURCES}
    print(f"{args.resolution}px, the seed's direct_mix, {args.epochs} epochs, a process a run")
    for _ in range(args.repeats):
        for name in SOURCES:
            command = [
                sys.executable,
                __file__,
                "--source",
                name,
                "--resolution",
                str(args.resolution),
                "--epochs",
                str(args.epochs),
            ]
            if args.data:
                command += ["--data", args.data]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
            out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            times = json.loads(out.stdout.strip().splitlines()[-1])
            later[name].extend(times[1:])
            print(f"{name}: epochs {', '.join(f'{t:.2f}' for t in times)} s", flush=True)
    before = statistics.median(later["from_generator"])
    after = statistics.median(later["numpy_function"])
    print(
        f"median epoch after the first: from_generator {before:.2f} s, numpy_function "
        f"{after:.2f} s (x{after / before:.2f})"
    )


if __name__ == "__main__":
    main()
