"""How much memory one trial's training needs, measured against mmtune's estimate.

    python benchmarks/train_memory.py                   # the configurations below
    python benchmarks/train_memory.py --rows 512

Each configuration trains one epoch through mmtune's own trainer (``run_trial``) in a fresh
process on a demo data set of ``--rows`` rows, after its cache is built. The figure is the
process's peak resident memory (``VmHWM``, reset just before training) above its resident
memory at that moment: what ``--max-memory-mb`` must leave room for. Beside it,
:func:`mmtune.model.networks.training_memory_mb`, the estimate a search refuses
configurations by before training them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CONFIGS = [  # (resolution, conv_blocks, base_filters, batch_size)
    (32, 3, 32, 32),
    (64, 3, 32, 32),
    (64, 2, 48, 64),
    (64, 4, 16, 16),
    (128, 3, 32, 32),
    (128, 2, 16, 32),
    (128, 3, 24, 64),
]


def one(data: Path, config: tuple[int, int, int, int]) -> dict[str, float]:
    """Train ``config`` for one epoch in this process; its estimate and measured need."""
    from mmtune.data.trial_data import DataSource
    from mmtune.model.networks import build_model, training_memory_mb
    from mmtune.model.training import TrainOptions, run_trial
    from mmtune.process_memory import peak_rss_mb, reset_peak_rss, rss_mb
    from mmtune.search.space_files import load_space

    resolution, blocks, filters, batch = config
    params = dict(load_space("direct_mix").defaults())
    params.update(resolution=resolution, conv_blocks=blocks, base_filters=filters, batch_size=batch)
    split = DataSource(data).get(resolution)
    import keras

    estimate = training_memory_mb(build_model("direct_mix", params, split.input_spec()), batch)
    keras.backend.clear_session()
    reset_peak_rss()
    before = rss_mb() or 0.0
    run_trial("direct_mix", params, split, TrainOptions(epochs=1))
    return {
        "estimate_mb": round(estimate, 1),
        "measured_mb": round((peak_rss_mb() or 0) - before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=384)
    parser.add_argument("--work", default="/tmp/mmtune-train-memory")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = Path(args.work) / f"demo-{args.rows}"
    if args.one:
        print(json.dumps(one(data, tuple(json.loads(args.one)))))
        return
    if not (data / "data_train.csv").is_file():
        from mmtune.data.demo import write_demo

        write_demo(data, n_train=args.rows, n_test=9, image_size=256, overwrite=True)
    env = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", MMTUNE_CACHE_DIR=str(Path(args.work) / "cache")
    )
    print("| px | blocks | filters | batch | estimate MB | measured MB | measured / estimate |")
    print("|---|---|---|---|---|---|---|")
    for config in CONFIGS:
        out = (
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--rows",
                    str(args.rows),
                    "--work",
                    args.work,
                    "--one",
                    json.dumps(config),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        got = json.loads(out)
        ratio = got["measured_mb"] / got["estimate_mb"]
        print(
            f"| {' | '.join(map(str, config))} | {got['estimate_mb']:,.0f} | "
            f"{got['measured_mb']:,.0f} | {ratio:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
