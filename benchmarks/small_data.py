"""Small, noisy data: which configurations beat a linear model, and does validation see it?

    python benchmarks/small_data.py --set hard --rows 300 --test 150 --image-size 64 \\
        --epochs 6 --seeds 0 1 2 --out /tmp/small.json

On a graded set (``mmtune.data.demo``, with its test answers) each candidate configuration of
``--space`` (the seed's network, the space's portfolio, and the small-data candidates below) is
trained two ways, with mmtune's trainer, once per seed:

- as a search trial: on the training part, at most ``--epochs`` epochs with the search's early
  stopping (patience 3); its best validation accuracy is what a search would see;
- as a refit member: on every labelled row for ``--refit-epochs`` (default ``--epochs``)
  epochs, no early stopping; the
  members' averaged probabilities (the refit's seed average) are scored on the held-out answers.

Beside them, the linear baseline of ``benchmarks/quality.py`` (a logistic regression on 32x32
pixels + MFCCs): the ceiling a tuned network should at least reach. A markdown table is
printed; every figure goes to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import linear_baseline, make_set

#: Configurations made for a few hundred rows (each over the space's defaults).
CANDIDATES: dict[str, dict[str, Any]] = {
    "small-32px-aug": {
        "conv_blocks": 2,
        "base_filters": 16,
        "resolution": 32,
        "augment_strength": 1.0,
        "dense_units": 64,
        "learning_rate": 3.0e-3,
        "batch_size": 16,
    },
    "tiny-32px": {
        "conv_blocks": 1,
        "base_filters": 16,
        "resolution": 32,
        "dense_units": 32,
        "dense_dropout": 0.5,
        "audio_units_1": 64,
        "audio_units_2": 32,
        "learning_rate": 3.0e-3,
        "batch_size": 16,
    },
}


def candidates(space: Any, only: list[str] | None) -> dict[str, dict[str, Any]]:
    """Name -> full configuration: the seed's network, the portfolio's entries, ours."""
    from mmtune.search.portfolio import load_portfolio

    defaults = space.defaults()
    named = {"seed's network": dict(defaults)}
    for i, point in enumerate(load_portfolio(space), start=1):
        named[f"portfolio {i}"] = dict(point)
    names = set(space.names)
    for name, change in CANDIDATES.items():
        if set(change) <= names:  # a knob the space lacks: not this space's candidate
            named[name] = space.active({**defaults, **change})
    return {k: v for k, v in named.items() if not only or k in only}


def measure(
    data: Path,
    model: str,
    params: dict[str, Any],
    epochs: int,
    seeds: list[int],
    refit_epochs: int | None = None,
) -> dict[str, Any]:
    import pandas as pd

    from mmtune.data.trial_data import DataSource
    from mmtune.keras_backend import clear_keras_session
    from mmtune.model.training import TrainOptions, train_model
    from mmtune.refit.prediction import predict_probabilities

    split = DataSource(data).get(int(params.get("resolution", 64)))
    answers = pd.read_csv(data / "test_answers.csv").CLASS.to_numpy()
    val, held_out, probabilities = [], [], []
    for seed in seeds:
        trial = train_model(
            model, params, split, TrainOptions(epochs=epochs, patience=3), seed=seed
        )
        val.append(float(trial.best_val_accuracy))
        clear_keras_session()
        fixed = TrainOptions(epochs=refit_epochs or epochs)
        full = train_model(model, params, split, fixed, seed=seed, full=True)
        p = predict_probabilities(full.model, split.data.test_images, split.data.test_mfcc)
        probabilities.append(p)
        held_out.append(float((p.argmax(axis=1) == answers).mean()))
        clear_keras_session()
    averaged = np.mean(probabilities, axis=0).argmax(axis=1)
    return {
        "val": val,
        "held_out_each": held_out,
        "held_out_seed_avg": float((averaged == answers).mean()),
    }


def _ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="hard")
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--space", default="direct_mix")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--refit-epochs", type=int, default=None, help="default: --epochs")
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to measure")
    parser.add_argument("--work", default="/tmp/mmtune-small")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from mmtune.search.space_files import load_space

    space = load_space(args.space)
    data = make_set(Path(args.work) / "data", args.set, args.rows, args.test, args.image_size)
    linear = linear_baseline(data)
    print(f"linear baseline: {linear}", flush=True)
    rows: dict[str, Any] = {"linear": linear, "candidates": {}}
    for name, params in candidates(space, args.only).items():
        got = measure(data, space.model, params, args.epochs, args.seeds, args.refit_epochs)
        got["params"] = params
        rows["candidates"][name] = got
        print(f"[{name}] {json.dumps(got, default=float)}", flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=2, default=float))
    print(f"\nlinear: validation {linear['val']:.3f}, held-out {linear['test']:.3f}\n")
    print("| candidate | search trial's best val | refit member held-out | refit (seed avg) |")
    print("|---|---|---|---|")
    for name, got in rows["candidates"].items():
        print(
            f"| {name} | {_ms(got['val'])} | {_ms(got['held_out_each'])} | "
            f"{got['held_out_seed_avg']:.3f} |"
        )


if __name__ == "__main__":
    main()
