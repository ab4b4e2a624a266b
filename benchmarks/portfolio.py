"""Choose a space's portfolio from measurements: candidates trained as search trials on graded sets.

    python benchmarks/portfolio.py --sets hard:300 demo:450 hard:1000 --seeds 0 1 2 \\
        --data-seed 7 --out /tmp/portfolio.json --size 5

A portfolio (``search_spaces/portfolios/<space>.yaml``) is what a new study trains right
after the seed's network, before its sampler: on a 10-trial budget the two are half the
search. This benchmark trains every candidate below (changes to the space's defaults; the
first is the seed's network) exactly as a search trial trains (mmtune's trainer, the space's
``--max-epochs`` or ``--epochs``, early stopping as the search uses it), with several seeds,
on each set (``difficulty:rows``, generated with ``--data-seed``: choose on sets the
quality and peers benchmarks do not score, whose generator seed is 0).

It prints each candidate's mean best validation accuracy per set, then a portfolio built
greedily in the way algorithm portfolios are: start from the seed's network, then add the
candidate that most raises the mean, over sets and seeds, of the best accuracy the portfolio
reaches, until ``--size`` configurations. Every figure goes to ``--out`` (JSON, written after
each set, so a stopped run keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import make_set, retrain

# Changes to direct_mix's defaults (the seed: 3 blocks of 32/64/128 filters, adam 1e-3,
# batch 32, 64 px). Diverse on purpose: depth, resolution, optimizer, step size, batch size,
# regularization.
CANDIDATES: list[dict[str, Any]] = [
    {},
    {"resolution": 32, "learning_rate": 2.0e-3},
    {"augment_strength": 0.5, "dropout_start": 0.1, "dense_dropout": 0.3},
    {"base_filters": 48, "dense_units": 256, "learning_rate": 5.0e-4, "batch_size": 16},
    {"learning_rate": 3.0e-3, "batch_size": 16},
    {"conv_blocks": 2, "learning_rate": 3.0e-3, "batch_size": 16},
    {
        "conv_blocks": 2,
        "base_filters": 48,
        "optimizer": "rmsprop",
        "learning_rate": 5.0e-3,
        "batch_size": 16,
        "dropout_step": 0.0,
        "dense_dropout": 0.25,
    },
    {
        "conv_blocks": 1,
        "resolution": 32,
        "optimizer": "rmsprop",
        "learning_rate": 5.0e-3,
        "batch_size": 16,
        "dense_units": 84,
        "dense_dropout": 0.3,
    },
    {"conv_blocks": 2, "resolution": 32, "optimizer": "rmsprop", "learning_rate": 5.0e-3},
    {"conv_blocks": 4, "learning_rate": 2.0e-3, "augment_strength": 0.5},
    {"learning_rate": 3.0e-3, "augment_strength": 0.5, "dropout_start": 0.1, "batch_size": 16},
    {"conv_blocks": 2, "base_filters": 64, "learning_rate": 2.0e-3, "dense_dropout": 0.3},
]


def measure(
    data: Path,
    space: str,
    epochs: int,
    seeds: tuple[int, ...],
    candidates: list[dict[str, Any]] = CANDIDATES,
) -> list[dict[str, Any]]:
    """Every candidate's best validation accuracy per seed on ``data``."""
    from mmtune.search.space_files import load_space

    loaded = load_space(space)
    rows = []
    for index, changes in enumerate(candidates):
        params = loaded.active({**loaded.defaults(), **changes})
        started = time.perf_counter()
        scores = retrain(data, loaded.model, params, epochs, seeds)
        rows.append(
            {
                "candidate": index,
                "changes": changes,
                "scores": scores,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(f"  #{index:2d} {statistics.mean(scores):.3f} {scores} {changes}", flush=True)
    return rows


def greedy_portfolio(results: dict[str, list[dict[str, Any]]], size: int) -> list[int]:
    """Candidates chosen one by one, starting from the seed's network (0), each the one that
    most raises the mean over sets and seeds of the portfolio's best accuracy."""
    cells = [(name, s) for name, rows in results.items() for s in range(len(rows[0]["scores"]))]
    count = len(next(iter(results.values())))

    def worth(chosen: list[int]) -> float:
        return statistics.mean(
            max(results[name][c]["scores"][s] for c in chosen) for name, s in cells
        )

    chosen = [0]
    while len(chosen) < size:
        rest = [c for c in range(count) if c not in chosen]
        chosen.append(max(rest, key=lambda c: worth([*chosen, c])))
        print(f"  portfolio {chosen}: {worth(chosen):.3f}", flush=True)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=["hard:300", "demo:450", "hard:1000"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data-seed", type=int, default=7)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--test", type=int, default=60)
    parser.add_argument("--space", default="direct_mix")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--size", type=int, default=5, help="the seed's network included")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mmtune-portfolio"))
    parser.add_argument("--out", type=Path, default=Path("portfolio.json"))
    args = parser.parse_args()

    results: dict[str, list[dict[str, Any]]] = {}
    for spec in args.sets:
        difficulty, rows = spec.split(":")
        data = make_set(
            args.work, difficulty, int(rows), args.test, args.image_size, seed=args.data_seed
        )
        print(f"{spec} (data seed {args.data_seed}):", flush=True)
        results[spec] = measure(data, args.space, args.epochs, tuple(args.seeds))
        args.out.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"work": str(args.work), "out": str(args.out)},
                    "results": results,
                },
                indent=1,
            )
        )
    greedy_portfolio(results, args.size)


if __name__ == "__main__":
    main()
