"""What a trial's first epoch costs beyond the epochs after it, with and without the trainer
making Keras' optimizer and metric variables before ``fit`` (so TensorFlow traces the
training step once, not twice).

    python benchmarks/tracing.py [--data DIR] [--resolution 64] [--repeats 3]

Trains the seed's direct_mix (the space's defaults) for 2 epochs with mmtune's trainer
(``keep_val_probabilities`` on, as a search trial trains), alternating the two ways
``--repeats`` times each in one process, and prints per trial: the first epoch (from the
start of ``train_model``: building, tracing and one epoch), the second, their difference (the
one-off cost), and the number of traces of the training step; then the medians of the first
and second epochs each way and their ratios. The second epoch's shows the change does not
touch training itself. On a shared 2-core VM single epochs vary by several seconds: read the
medians.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data dir (default: the demo data)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from mmtune.keras_backend import clear_keras_session, device_description, start

    start()
    import keras

    from mmtune.data.demo import ensure_demo
    from mmtune.data.trial_data import DataSource
    from mmtune.model import training
    from mmtune.search.space_files import load_space

    data_dir = Path(args.data) if args.data else ensure_demo()
    split = DataSource(data_dir).get(args.resolution)
    params = {**load_space("direct_mix").defaults(), "resolution": args.resolution}
    traces = [0]
    step = keras.Model.train_step

    def counted(self: keras.Model, data: object) -> object:
        traces[0] += 1
        return step(self, data)

    keras.Model.train_step = counted  # type: ignore[method-assign]
    built = training._build_before_tracing
    print(
        f"device: {device_description()}; {len(split.train_idx)} training rows at "
        f"{args.resolution}px, the seed's direct_mix"
    )
    print("| build before fit | first epoch (s) | second epoch (s) | one-off (s) | traces |")
    print("|---|---|---|---|---|")
    first: dict[bool, list[float]] = {True: [], False: []}
    second: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeats):
        for build in (False, True):
            training._build_before_tracing = built if build else (lambda *a: None)  # type: ignore[assignment]
            times: list[float] = []
            last = [time.perf_counter()]

            def tick(epoch: int, logs: dict, last: list[float] = last) -> None:
                now = time.perf_counter()
                times.append(now - last[0])
                last[0] = now

            traces[0] = 0
            options = training.TrainOptions(epochs=2, keep_val_probabilities=True)
            last[0] = time.perf_counter()
            training.train_model("direct_mix", params, split, options, seed=0, report=tick)
            clear_keras_session()
            first[build].append(times[0])
            second[build].append(times[1])
            print(
                f"| {'yes' if build else 'no'} | {times[0]:.2f} | {times[1]:.2f} | "
                f"{times[0] - times[1]:.2f} | {traces[0]} |",
                flush=True,
            )
    for name, times in (("first", first), ("second", second)):
        before, after = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"median {name} epoch: {before:.2f} s without the build, {after:.2f} s with it "
            f"(x{after / before:.2f})"
        )


if __name__ == "__main__":
    main()
