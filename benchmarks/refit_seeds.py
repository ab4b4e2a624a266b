"""How much one refit is a draw: single seeds against averages of 3, on the held-out answers.

    python benchmarks/refit_seeds.py --results RESULTS [--study NAME] [--trial N] [--seeds 6]

Takes a searched study with data that has known answers (the demo data and every graded set
of ``mmtune data demo`` write ``test_answers.csv``), the leaderboard's best configuration (or
``--trial``), and refits it on every labelled row with mmtune's own trainer and the refit's
epoch rule, once per seed. Prints each seed's held-out accuracy, then the mean, spread and
minimum of single models and of every 3-seed average of class probabilities (the default
``mmtune refit``), so the figure behind ``SEED_ENSEMBLE`` can be re-measured on any data.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, help="the search's --results directory")
    parser.add_argument("--study", default=None)
    parser.add_argument("--trial", type=int, default=None, help="default: the leaderboard's best")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--data", default=None, help="default: the data the study was searched on")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from mmtune.data.trial_data import DataSource
    from mmtune.ledger.store import Ledger
    from mmtune.model.networks import SEED_RESOLUTION
    from mmtune.model.training import TrainOptions, train_model
    from mmtune.refit.prediction import predict_probabilities
    from mmtune.refit.run import ranked_candidates

    study, name, _ = Ledger(Path(args.results)).load_study(args.study)
    config = ranked_candidates(study, args.trial)[0]
    data_dir = Path(args.data or study.user_attrs["data_path"])
    answers = pd.read_csv(data_dir / "test_answers.csv").CLASS.to_numpy()
    params = dict(config.trial.params)
    split = DataSource(data_dir).get(int(params.get("resolution", SEED_RESOLUTION)))
    epochs = int(config.refit_epochs or 1)
    print(f"study {name!r}, trial {config.number} (leaderboard {config.mean:.4f}), {epochs} epochs")
    probs = []
    for seed in range(args.seeds):
        started = time.perf_counter()
        model = train_model(
            str(study.user_attrs["model"]),
            params,
            split,
            TrainOptions(epochs),
            seed=seed,
            full=True,
        ).model
        probs.append(predict_probabilities(model, split.data.test_images, split.data.test_mfcc))
        accuracy = float((probs[-1].argmax(1) == answers).mean())
        print(f"seed {seed}: held-out {accuracy:.4f} ({time.perf_counter() - started:.0f} s)")

    def summary(label: str, scores: list[float]) -> None:
        sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
        print(f"{label}: mean {statistics.fmean(scores):.4f} sd {sd:.4f} min {min(scores):.4f}")

    summary("single seed", [float((p.argmax(1) == answers).mean()) for p in probs])
    triples = itertools.combinations(range(len(probs)), 3)
    averaged = [np.mean([probs[i] for i in t], axis=0).argmax(1) for t in triples]
    summary("3 seeds averaged", [float((a == answers).mean()) for a in averaged])


if __name__ == "__main__":
    main()
