"""What Python's garbage collector costs a trial, with the objects TensorFlow's and Keras'
imports made set aside (``gc.freeze``, as :func:`mmtune.keras_backend.start` does) and
without.

    python benchmarks/collector.py [--data DIR] [--resolution 32] [--epochs 1] [--repeats 3]

Trains the seed's direct_mix (the space's defaults) with mmtune's trainer, then clears the
Keras session and collects as a search does after a trial, alternating the two ways
``--repeats`` times each in one process. Prints per trial: its wall time, the full (oldest
generation) collections during it (Python's own and those Keras and Optuna ask for) and the
time they took; then the medians each way and their ratio. Set ``MMTUNE_EAGER=1`` to see the
tests' case (tiny eager trainings, where the collections weigh most).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data dir (default: the demo data)")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from mmtune.keras_backend import clear_keras_session, device_description, start

    start()  # sets the imports' objects aside
    from mmtune.data.demo import ensure_demo
    from mmtune.data.trial_data import DataSource
    from mmtune.model import training
    from mmtune.search.space_files import load_space

    data_dir = Path(args.data) if args.data else ensure_demo()
    split = DataSource(data_dir).get(args.resolution)
    params = {**load_space("direct_mix").defaults(), "resolution": args.resolution}
    full: list[float] = []  # durations of this trial's oldest-generation collections
    started = [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            full.append(time.perf_counter() - started[0])

    gc.callbacks.append(watch)
    print(
        f"device: {device_description()}; {len(split.train_idx)} training rows at "
        f"{args.resolution}px, the seed's direct_mix, {args.epochs} epoch(s)"
    )
    print("| imports set aside | trial (s) | full collections | their time (s) |")
    print("|---|---|---|---|")
    walls: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeats):
        for frozen in (False, True):
            gc.collect()
            if frozen:
                gc.freeze()
            else:
                gc.unfreeze()
            full.clear()
            begin = time.perf_counter()
            options = training.TrainOptions(epochs=args.epochs)
            training.train_model("direct_mix", params, split, options, seed=0)
            clear_keras_session()
            gc.collect()  # Optuna's gc_after_trial
            wall = time.perf_counter() - begin
            walls[frozen].append(wall)
            print(f"| {'yes' if frozen else 'no'} | {wall:.2f} | {len(full)} | {sum(full):.2f} |")
    without, with_ = statistics.median(walls[False]), statistics.median(walls[True])
    print(f"median trial: {without:.2f} s without, {with_:.2f} s set aside: x{with_ / without:.2f}")


if __name__ == "__main__":
    main()
