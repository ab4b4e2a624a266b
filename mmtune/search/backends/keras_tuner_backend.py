"""Keras Tuner's oracles (:mod:`mmtune.search.tuners`: Hyperband, Bayesian optimization,
random search), their trials recorded in the ledger.

Keras Tuner keeps its own project folder (``<results>/<study>/keras_tuner``)
for its own resume; every trial it runs is also one ledger trial, with the
same parameters and per-epoch curves, and nothing reads the folder for
results. Hyperband's continued trials load the weights their parent saved.

This module imports Keras Tuner (and so TensorFlow) at import time: it is imported only when
a Keras Tuner search runs (:func:`mmtune.search.backends.backend_for`).
"""

from __future__ import annotations

# ruff: noqa: E402  (TensorFlow is imported quietly first)
import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmtune import keras_backend
from mmtune.keras_backend import clear_keras_session

keras_backend.start()  # quietly, before Keras Tuner imports Keras (and TensorFlow) noisily

import keras_tuner as kt
from keras_tuner.src import config as keras_tuner_config
from optuna.trial import TrialState

from mmtune.errors import FatalSearchError
from mmtune.ledger.records import BUDGET_EPOCHS, KERAS_TUNER_TRIAL
from mmtune.ledger.store import StudyOptions, finished_count
from mmtune.locations import study_dir
from mmtune.model.training import TrialResult, train_model
from mmtune.search.backends import SearchRun
from mmtune.search.budget import budget_spent, searched_enough
from mmtune.search.config import SearchConfig
from mmtune.search.memory import RecycleProcess
from mmtune.search.trial import TrialContext, outcome_of, trial_split
from mmtune.search.tuners import tuner_named

if TYPE_CHECKING:
    import optuna


__all__ = ["LedgerTuner", "study_options", "run", "keras_tuner_seed"]

WEIGHTS_FILE = "mmtune.weights.h5"


def study_options(cfg: SearchConfig, resumed_trials: int = 0) -> StudyOptions:
    """The ledger study only records: Keras Tuner chooses the parameters."""
    import optuna

    return {
        "sampler": optuna.samplers.RandomSampler(seed=cfg.seed + resumed_trials),
        "pruner": optuna.pruners.NopPruner(),
    }


#: Oracle seeds of neighbouring ``--seed`` values lie this far apart.
KERAS_TUNER_SEED_STRIDE = 1_000_003
_ORACLE_SEEDS = 2**32 - 2  # oracle seeds are 1 .. 2**32 - 2


def keras_tuner_seed(seed: int) -> int:
    """The oracle seed for mmtune's ``--seed``. Keras Tuner takes a seed of 0 as "none" and
    draws a random one (``seed or random.randint(1, 10000)``), which made seed 0 unrepeatable;
    and its oracles seed each value they draw with a counter that starts at the seed and
    steps by one, so oracle seeds 1 and 2 drew 3 of the same 5 configurations. Seeds a
    stride apart share none within a search. Its Bayesian oracle seeds numpy's RandomState,
    which takes at most 2**32 - 1: the product wraps below that (seeds up to 4294 are
    unchanged; --seed 5000 made the Bayesian tuner fail)."""
    return 1 + (seed * KERAS_TUNER_SEED_STRIDE) % _ORACLE_SEEDS


def _oracle(cfg: SearchConfig, max_trials: int) -> kt.Oracle:
    objective = kt.Objective("val_accuracy", direction="max")
    declared = kt.HyperParameters()  # declared up front: Hyperband stops on an empty space
    cfg.space.keras_tuner_values(declared)
    tuner = tuner_named(cfg.tuner)
    if tuner.oracle is None:
        raise FatalSearchError(f"--tuner {tuner.name} is no Keras Tuner oracle")
    return tuner.oracle(
        kt,
        max_trials,
        cfg.epochs,
        objective=objective,
        seed=keras_tuner_seed(cfg.seed),
        hyperparameters=declared,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=max(cfg.max_failures, 1) + 1,
    )


class LedgerTuner(kt.Tuner):
    """A Keras Tuner tuner whose trials train through mmtune and land in the ledger."""

    def __init__(self, *, search: SearchRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.search_run = search
        self.memory = search.cfg.memory_watch()

    def on_trial_begin(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_begin(trial)
        self.memory.before_trial()

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        """Keras Tuner records the trial first; then the process may recycle itself (its
        ``RecycleProcess`` leaves the search, which resumes from both folders)."""
        super().on_trial_end(trial)
        run = self.search_run
        if budget_spent(run.cfg, run.study):  # --epoch-budget: Keras Tuner starts no other
            self.oracle.max_trials = len(self.oracle.trials)
        elif not searched_enough(run.cfg, run.study):  # no restart only to find nothing
            self.memory.after_trial()

    def run_trial(
        self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any
    ) -> dict[str, float]:
        params = self.search_run.cfg.space.keras_tuner_values(trial.hyperparameters)
        ledger_trial, ctx = self._ledger_trial(trial, params)
        state, skipped, reason, value = TrialState.COMPLETE, False, "", 0.0
        recycle: RecycleProcess | None = None
        told = False

        def tell(**how: Any) -> None:
            nonlocal told
            if not told:  # a second tell would raise and hide the first error
                told = True
                self.search_run.study.tell(ledger_trial, **how)

        try:
            result = self._train(trial, ctx, params)
            ctx.finished(result)
            value = result.best_val_accuracy
            tell(values=value)
        except BaseException as exc:  # refused ones: Keras Tuner sees a worthless trial
            outcome = outcome_of(exc, self.memory)
            ctx.ended(outcome)
            tell(state=outcome.state())
            if outcome.stops:  # Ctrl-C, data errors, a fatal search error: recorded, raised
                raise
            state, skipped, reason, value = outcome.state(), outcome.refused, outcome.reason, 0.0
            if outcome.retry:
                recycle = RecycleProcess(
                    f"trial {ledger_trial.number}: {outcome.retry} in this process",
                    self.memory.trial_need_mb,
                )
        finally:
            clear_keras_session()
        self._close(ledger_trial.number, ctx, state, reason, skipped, recycle)
        return {"val_accuracy": float(value)}

    def _ledger_trial(
        self, trial: kt.engine.trial.Trial, params: dict[str, Any]
    ) -> tuple[optuna.Trial, TrialContext]:
        """The ledger trial recording this Keras Tuner trial (Hyperband's may have fewer
        epochs than the study's), and its bookkeeping."""
        run = self.search_run
        cfg, study = run.cfg, run.study
        epochs = int(trial.hyperparameters.values.get("tuner/epochs", cfg.epochs))
        study.enqueue_trial(params, skip_if_exists=False)
        ledger_trial = study.ask(fixed_distributions=cfg.space.optuna_distributions(params))
        options = dataclasses.replace(run.options, epochs=epochs)
        ctx = TrialContext(cfg, run.source, run.progress, ledger_trial, cfg.tuner, options)
        ledger_trial.set_user_attr(KERAS_TUNER_TRIAL, trial.trial_id)
        ledger_trial.set_user_attr(BUDGET_EPOCHS, epochs)  # Hyperband: below max_epochs
        return ledger_trial, ctx

    def _train(
        self, trial: kt.engine.trial.Trial, ctx: TrialContext, params: dict[str, Any]
    ) -> TrialResult:
        """Train the trial (a Hyperband continuation from its parent's weights, when they are
        there) and save the weights a continuation of it would start from."""
        values = trial.hyperparameters.values
        initial_weights = self._parent_weights(values.get("tuner/trial_id"))
        initial_epoch = int(values.get("tuner/initial_epoch", 0)) if initial_weights else 0
        keywords = ctx.train_kwargs(params)
        space = self.search_run.cfg.space
        split = trial_split(
            self.search_run.source, space, params, keywords["options"], keywords["on_model"]
        )
        result = train_model(
            space.model,
            params,
            split,
            **keywords,
            initial_epoch=initial_epoch,
            initial_weights=initial_weights,
        )
        weights = Path(self.get_trial_dir(trial.trial_id)) / WEIGHTS_FILE
        weights.parent.mkdir(parents=True, exist_ok=True)
        result.model.save_weights(str(weights))
        result.model = None
        return result

    def _close(
        self,
        number: int,
        ctx: TrialContext,
        state: TrialState,
        reason: str,
        skipped: bool,
        recycle: RecycleProcess | None,
    ) -> None:
        """Report the trial, then raise what Keras Tuner must see: a fatal streak, a recycle
        (out of its search, the trial still running: on resume it runs first), a failure."""
        best, ran, duration = ctx.summary()
        self.search_run.progress.trial_done(
            number, state, best, ran, duration, note=reason[:120], skipped=skipped
        )
        try:
            self.search_run.streak.update(state, reason, skipped=skipped)
        except FatalSearchError as exc:  # Keras Tuner lets only its own FatalError through
            raise kt.errors.FatalError(str(exc)) from exc
        if recycle is not None:
            raise kt.errors.FatalError(str(recycle)) from recycle
        if state == TrialState.FAIL:
            raise kt.errors.FailedTrialError(reason)

    def _parent_weights(self, parent: str | None) -> Path | None:
        """Hyperband: the weights a continued trial's parent saved, when there are any."""
        if parent is None:
            return None
        path = Path(self.get_trial_dir(parent)) / WEIGHTS_FILE
        return path if path.exists() else None


def run(search: SearchRun) -> None:
    """Run Keras Tuner until the study holds ``cfg.trials`` finished trials."""
    study, cfg, progress = search.study, search.cfg, search.progress
    # Keras Tuner ships with DEBUG on: it prints a traceback for every failed trial, whose
    # reason mmtune already shows in one line and records in the ledger.
    keras_tuner_config.DEBUG = False
    project = study_dir(cfg.results_dir, cfg.study_name) / "keras_tuner"
    remaining = cfg.trials - finished_count(study)

    def make_tuner() -> LedgerTuner:
        return LedgerTuner(
            search=search,
            oracle=_oracle(cfg, max_trials=remaining),
            directory=str(project.parent),
            project_name=project.name,
            overwrite=False,
        )

    try:
        tuner = make_tuner()
    except (ValueError, KeyError, TypeError) as exc:  # its state file half-written by a crash
        if not project.is_dir():
            raise
        broken = project.with_name(f"{project.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        project.rename(broken)
        progress.message(
            f"Keras Tuner's own state in {project} is unreadable "
            f"({type(exc).__name__}: {str(exc)[:200]}); moved it to {broken} and "
            "started its tuner afresh. The ledger's trials are unaffected."
        )
        tuner = make_tuner()
    # Keras Tuner counts its own trials (failed ones too, and on resume); the ledger decides
    # how many more to run, so its budget is topped up until the ledger is full or it stops.
    while remaining > 0 and not budget_spent(cfg, study):
        ended = _ended(tuner.oracle)
        rerun = len(tuner.oracle.trials) - ended  # still running when a process left them
        tuner.oracle.max_trials = len(tuner.oracle.trials) + max(remaining - rerun, 0)
        try:
            tuner.search(verbose=0)
        except kt.errors.FatalError as exc:
            if isinstance(exc.__cause__, (FatalSearchError, RecycleProcess)):
                raise exc.__cause__ from None
            raise
        if _ended(tuner.oracle) == ended:  # the tuner has nothing left to try
            progress.message(
                f"Keras Tuner's {cfg.tuner} has no new configuration to try; "
                f"stopping {remaining} trial(s) short of --trials {cfg.trials}"
            )
            break
        remaining = cfg.trials - finished_count(study)


def _ended(oracle: kt.Oracle) -> int:
    """Keras Tuner's trials that ended. One still running when its process left (killed, or
    restarted for memory) is run again first on resume, in place of a new one."""
    running = kt.engine.trial.TrialStatus.RUNNING
    return sum(trial.status != running for trial in oracle.trials.values())
