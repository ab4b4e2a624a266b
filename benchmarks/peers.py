"""Search strength per budget: mmtune against Keras Tuner and Optuna, side by side.

    python benchmarks/peers.py --set hard --rows 600 --trials 10 --epochs 6 --seeds 0 1 2
    python benchmarks/peers.py --set hard --rows 1000 --trials 10 --epochs 6 --equal-epochs

Two ways to size the peers' searches:

- fixed trials (the default): every tuner runs ``--trials`` trials of at most ``--epochs``;
- ``--equal-epochs``: mmtune runs first, on each search seed, and every epoch it trains before
  naming its best (its search trials and its finalists' race) is that seed's budget; each peer
  then runs trials until its own epochs reach that total, stopping at the trial that crosses
  it (``mmtune search --epoch-budget`` for the ``:trainer`` rows, the same rule in the plain
  loops). The comparison is at equal compute: what the race costs, the peers spend searching.
  ``mmtune@0.5`` is mmtune given half that budget, its race included (``--epoch-budget``
  holds the race since 2026-12-06; before, the race ran on top of it): the moonshot.
- ``--table OUT.json ...``: the held-out figures of earlier runs by tuner and search seed, with
  their means (several files: one set's seeds gathered); nothing is run.
- ``--reuse OUT.json``: a tuner already measured on a search seed (an earlier ``--out``) is
  taken from that file, not run again, mmtune's total with it; each run records its settings
  (set, rows, test rows, picture size, space, trials, epochs), and a run made with others, or
  sized by another budget, is refused.

Every tuner searches the same data (a graded set of ``benchmarks/quality.py`` with its test
answers), the same train/validation split, the same network family and space
(``search_spaces/<space>.yaml``), the same number of trials (or epochs, above) and the same maximum epochs a trial:

- ``kt-random``, ``kt-hyperband``: Keras Tuner's ``RandomSearch`` / ``Hyperband`` driven as
  its docs show (a ``HyperModel`` whose ``build(hp)`` returns the compiled network and whose
  ``fit`` calls ``model.fit``); Hyperband's trials are capped at ``--trials``;
- ``optuna-tpe-hb``: Optuna's ``TPESampler`` with a ``HyperbandPruner``, as its docs show (an
  objective that fits epoch by epoch, reports and asks ``should_prune``);
- each of these twice: ``plain`` (the family trained with a plain ``model.fit``, as a user
  would) and ``trainer`` (the same strategy through mmtune's trainer: ``mmtune search`` with
  that tuner and no early stopping, size limits, portfolio or re-evaluation), so the table
  separates what mmtune's training brings from what its search strategy brings;
- ``mmtune``: ``mmtune search`` and ``mmtune refit --best`` with their defaults.

Per tuner and search seed: the best validation accuracy the tuner reports; that configuration
retrained with 3 new seeds by mmtune's trainer (the same judge for all); the held-out accuracy
of its refit on every labelled row (plain rows refit with a plain ``fit`` for the best trial's
best epoch, as a user would; the others with ``mmtune refit``); the epochs every trial spent
(and of them mmtune's finalists' race's: the price of a re-evaluated figure, which no peer
states); the wall time. Means and spreads over the search seeds go in a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import SEEDS, make_set, retrain, search_and_refit

PEERS = ("kt-random", "kt-hyperband", "optuna-tpe-hb")
PEER_TO_MMTUNE = {
    "kt-random": ["--tuner", "random"],
    "kt-hyperband": ["--tuner", "hyperband"],
    "optuna-tpe-hb": ["--tuner", "tpe", "--pruner", "hyperband"],
}
AS_PEER = [
    "--patience",
    "0",
    "--max-params",
    "0",
    "--max-cost",
    "0",
    "--finalists",
    "0",
    "--no-portfolio",
]


class _Data:
    """The set's parts at each resolution, as plain arrays and datasets."""

    def __init__(self, data_dir: Path) -> None:
        from mmtune.data.trial_data import DataSource

        self.source = DataSource(data_dir)
        import pandas as pd

        self.answers = pd.read_csv(data_dir / "test_answers.csv").CLASS.to_numpy()

    def split(self, params: dict[str, Any]) -> Any:
        return self.source.get(int(params.get("resolution", 64)))

    def datasets(
        self, model_name: str, params: dict[str, Any], seed: int, full: bool = False
    ) -> tuple[Any, Any]:
        from mmtune.data.pipeline import make_dataset
        from mmtune.model.networks import MODEL_INPUTS

        split = self.split(params)
        inputs = MODEL_INPUTS[model_name]
        batch = int(params.get("batch_size", 32))
        train = make_dataset(
            *split.part("all" if full else "train"),
            inputs=inputs,
            batch_size=batch,
            shuffle=True,
            seed=seed,
        )
        val = None if full else make_dataset(*split.part("val"), inputs=inputs, batch_size=256)
        return train, val


def _model(model_name: str, params: dict[str, Any], data: _Data, full: bool = False) -> Any:
    from mmtune.model.networks import build_model, compile_model

    model = build_model(model_name, params, data.split(params).input_spec(full=full))
    return compile_model(model, params)


_UNBOUNDED = 100_000  # --trials when epochs, not trials, size a search


class _EpochCount:
    def __init__(self) -> None:
        self.epochs = 0


def _counting_callback(count: _EpochCount) -> Any:
    import keras

    class Count(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            count.epochs += 1

    return Count()


def plain_keras_tuner(
    kind: str,
    space: Any,
    data: _Data,
    trials: int,
    epochs: int,
    seed: int,
    work: Path,
    budget: int | None = None,
) -> dict[str, Any]:
    """Keras Tuner's RandomSearch or Hyperband on a HyperModel with a plain ``model.fit``;
    with ``budget``, trials go on until their epochs reach it (the crossing one finishes)."""
    import keras_tuner as kt

    from mmtune.search.backends.keras_tuner_backend import keras_tuner_seed

    count = _EpochCount()
    tuners: list[Any] = []

    class SeedHyperModel(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            return _model(space.model, space.keras_tuner_values(hp), data)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            train, val = data.datasets(space.model, space.keras_tuner_values(hp), seed)
            callbacks = [*kwargs.pop("callbacks", []), _counting_callback(count)]
            kwargs["verbose"] = 0
            history = model.fit(train, validation_data=val, callbacks=callbacks, **kwargs)
            if budget is not None and count.epochs >= budget:  # no trial after this one
                tuners[0].oracle.max_trials = len(tuners[0].oracle.trials)
            return history

    common = dict(
        objective="val_accuracy",
        seed=keras_tuner_seed(seed),  # mmtune's mapping: neighbouring seeds share no draws
        directory=str(work),
        project_name=kind,
        overwrite=True,
    )
    most = trials if budget is None else _UNBOUNDED
    if kind == "kt-random":
        tuner = kt.RandomSearch(SeedHyperModel(), max_trials=most, **common)
        tuners.append(tuner)
        tuner.search(epochs=epochs, verbose=0)
    else:
        tuner = kt.Hyperband(
            SeedHyperModel(), max_epochs=epochs, factor=3, hyperband_iterations=100, **common
        )
        tuners.append(tuner)
        tuner.oracle.max_trials = most  # the same number of trials as every tuner
        tuner.search(verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    params = space.active(
        {k: v for k, v in best.hyperparameters.values.items() if not k.startswith("tuner/")}
    )
    best_epoch = int(best.best_step) + 1 if best.best_step is not None else epochs
    return {
        "best_val": float(best.score),
        "params": params,
        "best_epoch": best_epoch,
        "epochs_spent": count.epochs,
        "trials": len(tuner.oracle.trials),
    }


def plain_optuna(
    space: Any, data: _Data, trials: int, epochs: int, seed: int, budget: int | None = None
) -> dict[str, Any]:
    """Optuna's TPE sampler with a HyperbandPruner, fitting epoch by epoch; with ``budget``,
    trials go on until their epochs reach it (the crossing one finishes)."""
    import optuna

    count = _EpochCount()

    def objective(trial: optuna.Trial) -> float:
        params = space.suggest_optuna(trial)
        model = _model(space.model, params, data)
        train, val = data.datasets(space.model, params, seed + trial.number)
        best, best_epoch = 0.0, 1
        for epoch in range(1, epochs + 1):
            history = model.fit(
                train, validation_data=val, initial_epoch=epoch - 1, epochs=epoch, verbose=0
            )
            count.epochs += 1
            acc = float(history.history["val_accuracy"][-1])
            if acc > best:
                best, best_epoch = acc, epoch
            trial.set_user_attr("best_epoch", best_epoch)
            trial.report(acc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return best

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=epochs, reduction_factor=3
        ),
    )

    def spent(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        if budget is not None and count.epochs >= budget:
            study.stop()

    study.optimize(objective, n_trials=trials if budget is None else None, callbacks=[spent])
    best = study.best_trial
    return {
        "best_val": float(best.value),
        "params": dict(best.params),
        "best_epoch": int(best.user_attrs["best_epoch"]),
        "epochs_spent": count.epochs,
        "trials": len(study.trials),
    }


def plain_refit(space: Any, data: _Data, params: dict[str, Any], epochs: int, seed: int) -> float:
    """As a user would: the best configuration fitted on every labelled row for the best
    trial's best epoch with a plain ``fit``, scored on the held-out answers."""
    import keras

    from mmtune.refit.prediction import predict_probabilities

    keras.utils.set_random_seed(seed)
    model = _model(space.model, params, data, full=True)
    train, _ = data.datasets(space.model, params, seed, full=True)
    model.fit(train, epochs=epochs, verbose=0)
    d = data.split(params).data
    predicted = predict_probabilities(model, d.test_images, d.test_mfcc).argmax(axis=1)
    keras.backend.clear_session()
    return float((predicted == data.answers).mean())


def run_tuner(
    name: str,
    data_dir: Path,
    space_name: str,
    trials: int,
    epochs: int,
    seed: int,
    work: Path,
    judge_seeds: tuple[int, ...] = SEEDS,
    budget: int | None = None,
) -> dict[str, Any]:
    """One tuner, one search seed: its search, the judge's retraining and the held-out score.
    ``budget``: the epochs its search may spend (``--equal-epochs``), or None: ``trials``."""
    import keras

    from mmtune.search.space_files import load_space

    space = load_space(space_name)
    data = _Data(data_dir)
    started = time.perf_counter()
    if budget is None:
        flags = ["--trials", str(trials)]
    else:  # as many trials as the epochs allow
        flags = ["--trials", str(_UNBOUNDED), "--epoch-budget", str(budget)]
    flags += ["--max-epochs", str(epochs), "--seed", str(seed)]
    if name.endswith(":plain"):
        peer = name.split(":")[0]
        keras.utils.set_random_seed(seed)
        out = (
            plain_optuna(space, data, trials, epochs, seed, budget)
            if peer == "optuna-tpe-hb"
            else plain_keras_tuner(
                peer, space, data, trials, epochs, seed, work / f"{peer}-{seed}", budget
            )
        )
        out["held_out"] = plain_refit(space, data, out["params"], out["best_epoch"], seed)
    else:
        own = name.startswith("mmtune")
        extra = [] if own else PEER_TO_MMTUNE[name.split(":")[0]] + AS_PEER
        got = search_and_refit(
            data_dir,
            space_name,
            flags,
            work / f"{name}-{seed}".replace(":", "-").replace("@", "-"),
            extra,
            check=own,
        )
        out = {
            "best_val": got["best_mean"],
            "params": got["refit_params"],
            "held_out": got["held_out"],
            "epochs_spent": got["epochs_spent"],
            "race_epochs": got["race_epochs"],
            "trials": got["trials"],
        }
    out["wall_s"] = round(time.perf_counter() - started, 1)
    out["epoch_budget"] = budget
    out["retrained"] = retrain(data_dir, space.model, out["params"], epochs, judge_seeds)
    return out


def _ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def table(rows: dict[str, list[dict[str, Any]]], equal_epochs: bool = False) -> str:
    """The markdown table, labelled by how the searches were sized."""
    sized = "equal total epochs (mmtune's, race included)" if equal_epochs else "fixed trials"
    lines = [
        f"Searches sized by {sized}; mean ± sd over search seeds.",
        "",
        "| tuner | best val (reported) | best retrained, mean of 3 seeds | held-out | "
        "epochs (of them the race's) | trials | wall |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, runs in rows.items():
        lines.append(
            f"| {name} | {_ms([r['best_val'] for r in runs])} | "
            f"{_ms([statistics.fmean(r['retrained']) for r in runs])} | "
            f"{_ms([r['held_out'] for r in runs])} | "
            f"{statistics.fmean([r['epochs_spent'] for r in runs]):.0f} "
            f"({statistics.fmean([r.get('race_epochs', 0) for r in runs]):.0f}) | "
            f"{statistics.fmean([r['trials'] for r in runs]):.1f} | "
            f"{statistics.fmean([r['wall_s'] for r in runs]):.0f} s |"
        )
    return "\n".join(lines)


def seeds_table(runs: dict[tuple[str, int], dict[str, Any]]) -> str:
    """Held-out accuracy per tuner and search seed, their mean ± sd and the retrained figure's
    mean (the tuners in the order first met, mmtune first): the equal-epochs verdict of a set,
    gathered from the runs of several ``--out`` files (:func:`measured`)."""
    seeds = sorted({seed for _, seed in runs})
    names = sorted({name for name, _ in runs}, key=lambda n: (not n.startswith("mmtune"), n))
    lines = [
        "| tuner | " + " | ".join(f"held-out, seed {s}" for s in seeds) + " | held-out, mean ± sd "
        "| retrained, mean | epochs, mean |",
        "|---|" + "---|" * (len(seeds) + 3),
    ]
    for name in names:
        mine = [runs.get((name, s)) for s in seeds]
        done = [r for r in mine if r is not None]
        cells = [f"{r['held_out']:.3f}" if r else "-" for r in mine]
        lines.append(
            f"| {name} | {' | '.join(cells)} | {_ms([r['held_out'] for r in done])} "
            f"({len(done)} seeds) | "
            f"{statistics.fmean(statistics.fmean(r['retrained']) for r in done):.3f} | "
            f"{statistics.fmean(r['epochs_spent'] for r in done):.0f} |"
        )
    return "\n".join(lines)


def budget_for(name: str, mmtune_total: int | None) -> int | None:
    """The epochs ``name`` may spend when mmtune's run spent ``mmtune_total`` (None: fixed
    trials). ``NAME@F``: the fraction ``F`` of it (``mmtune@0.5``, the moonshot)."""
    if mmtune_total is None or name == "mmtune":
        return None
    fraction = float(name.split("@")[1]) if "@" in name else 1.0
    return max(1, round(mmtune_total * fraction))


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What makes two runs of one tuner and search seed comparable: the set, its size, the
    space and each search's size. Every run records them; a reused run must match them."""
    keys = ("set", "rows", "test", "image_size", "space", "trials", "epochs")
    return {key: getattr(args, key) for key in keys}


def reuse_problem(out: dict[str, Any], budget: int | None, settings: dict[str, Any]) -> str | None:
    """Why an earlier run cannot stand for this one (None when it can): it was sized by
    another budget, or made on another set, size or space. A run from before runs recorded
    their settings cannot be checked for them and is taken on trust."""
    if out.get("epoch_budget") != budget:
        return f"ran on budget {out.get('epoch_budget')}, not {budget}"
    recorded = out.get("settings")
    if recorded is None:
        return None
    differ = {k: (recorded.get(k), v) for k, v in settings.items() if recorded.get(k) != v}
    if differ:
        said = ", ".join(f"{k} {was!r} (now {now!r})" for k, (was, now) in differ.items())
        return f"was made with other settings: {said}"
    return None


def measured(files: list[str]) -> dict[tuple[str, int], dict[str, Any]]:
    """The runs of earlier ``--out`` files by (tuner, search seed). A run met twice must be
    the same run (a reused row copied into a later file), and the runs recording their
    settings must agree on them: files of two sets, sizes or spaces are refused, naming the
    files, since one table or one budget cannot hold both."""
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    found_in: dict[tuple[str, int], str] = {}
    settings: tuple[dict[str, Any], str] | None = None
    for file in files:
        for name, outs in json.loads(Path(file).read_text()).items():
            for out in outs:
                key = (name, int(out["seed"]))
                if key in runs and runs[key] != out:
                    sys.exit(
                        f"{found_in[key]} and {file} both hold {name} on search seed {key[1]}, "
                        "and the two runs differ: give the files of one set at a time"
                    )
                recorded = out.get("settings")
                if recorded is not None and settings is None:
                    settings = (recorded, file)
                elif recorded is not None and settings is not None and recorded != settings[0]:
                    differ = sorted(
                        k
                        for k in {*recorded, *settings[0]}
                        if recorded.get(k) != settings[0].get(k)
                    )
                    sys.exit(
                        f"{settings[1]} and {file} hold runs made with other settings "
                        f"({', '.join(differ)}): give the files of one set at a time"
                    )
                runs[key], found_in[key] = out, file
    return runs


def tuner_names() -> list[str]:
    return [f"{p}:{v}" for p in PEERS for v in ("plain", "trainer")] + ["mmtune"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="hard", help="a difficulty preset of mmtune.data.demo")
    parser.add_argument("--rows", type=int, default=1200)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--space", default="direct_mix")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tuners", nargs="+", default=tuner_names())
    parser.add_argument(
        "--equal-epochs",
        action="store_true",
        help="give every peer mmtune's total epochs on each seed (mmtune runs first)",
    )
    parser.add_argument("--work", default="/tmp/mmtune-peers")
    parser.add_argument("--out", default=None, help="JSON file of every figure")
    parser.add_argument(
        "--reuse",
        nargs="+",
        default=[],
        metavar="JSON",
        help="earlier --out files: a tuner already measured on a seed is taken from them, "
        "not run again (with --equal-epochs, mmtune's total too)",
    )
    parser.add_argument(
        "--table",
        nargs="+",
        default=None,
        metavar="JSON",
        help="print the held-out figures of earlier --out files by tuner and search seed, "
        "and run nothing",
    )
    args = parser.parse_args()
    if args.table:
        print(seeds_table(measured(args.table)))
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    work = Path(args.work)
    data_dir = make_set(work / "data", args.set, args.rows, args.test, args.image_size)
    rows: dict[str, list[dict[str, Any]]] = {}
    earlier = measured(args.reuse)
    settings = run_settings(args)
    names = args.tuners
    if args.equal_epochs:  # mmtune first: its epochs are the others' budget
        names = ["mmtune", *[n for n in names if n != "mmtune"]]
    for seed in args.seeds:
        total: int | None = None
        for name in names:
            budget = budget_for(name, total)
            out = earlier.get((name, seed))
            if out is None:
                out = run_tuner(
                    name,
                    data_dir,
                    args.space,
                    args.trials,
                    args.epochs,
                    seed,
                    work / "runs" / str(int(time.time())),
                    budget=budget,
                )
                out["settings"] = settings
            elif problem := reuse_problem(out, budget, settings):
                sys.exit(f"--reuse: {name} seed {seed} {problem}")
            out["seed"] = seed
            if name == "mmtune" and args.equal_epochs:
                total = int(out["epochs_spent"])
            print(f"[{name} seed {seed}] {json.dumps(out, default=float)}", flush=True)
            rows.setdefault(name, []).append(out)
            if args.out:
                Path(args.out).write_text(json.dumps(rows, indent=2, default=float))
    print(table(rows, args.equal_epochs))


if __name__ == "__main__":
    main()
