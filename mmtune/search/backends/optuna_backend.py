"""Optuna's samplers (:mod:`mmtune.search.tuners`: TPE, ...) with a pruner fed every epoch's
validation accuracy.

Trials run through ``study.optimize``, which keeps a heartbeat on RDB storages:
a killed worker's trial goes stale, is marked failed and retried by the next
worker that starts (see :class:`mmtune.ledger.store.Ledger`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from mmtune.errors import MmtuneError, TrialFailed
from mmtune.ledger.records import FAIL_REASON, PRUNE_REASON, SKIPPED
from mmtune.model.training import run_trial
from mmtune.search.backends import SearchRun
from mmtune.search.budget import budget_spent
from mmtune.search.config import SearchConfig
from mmtune.search.memory import RecycleProcess
from mmtune.search.orphans import fail_orphaned_trials
from mmtune.search.trial import Outcome, TrialContext, outcome_of, trial_split
from mmtune.search.tuners import tuner_named

if TYPE_CHECKING:
    import optuna

    from mmtune.ledger.store import StudyOptions
    from mmtune.search.trial import TrainKeywords

__all__ = ["study_options", "make_pruner", "run"]


def make_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    """``median``: stop a trial whose accuracy is below the median of earlier trials at
    the same epoch, once 3 trials have completed (a new study's first trials are the seed's
    network and its portfolio), from the first epoch on (steps are 1-based epochs; with
    BatchNorm statistics recomputed before each validation, epoch-1 accuracy already says
    what the network has learnt); ``hyperband``: successive halving brackets over
    1..max_epochs; ``none``: never prune."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max_epochs, reduction_factor=3
        )
    return optuna.pruners.NopPruner()


def study_options(cfg: SearchConfig, resumed_trials: int = 0) -> StudyOptions:
    """The tuner's sampler (:data:`mmtune.search.tuners.TUNERS`) seeded per trial
    (:mod:`mmtune.search.backends.trial_seeded`), so a resumed or restarted search draws what
    an unbroken one would; ``resumed_trials`` is not needed."""
    import warnings

    import optuna

    from mmtune.search.backends.trial_seeded import TrialSeededSampler

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    tuner = tuner_named(cfg.tuner)
    if tuner.sampler is None:
        raise MmtuneError(f"--tuner {tuner.name} is no Optuna sampler")
    return {
        "sampler": TrialSeededSampler(functools.partial(tuner.sampler, optuna), cfg.seed),
        "pruner": make_pruner(cfg.pruner if tuner.pruners else "none", cfg.epochs),
    }


def run(search: SearchRun) -> None:
    """Optimize until the study holds ``cfg.trials`` completed or pruned trials, or its
    trials have spent ``cfg.epoch_budget`` epochs."""
    study, cfg = search.study, search.cfg
    trials = _Trials(search)
    # One trial per optimize call, each after a look at the study: several workers share it,
    # and --trials counts the study's completed or pruned trials, not this process's.
    while _should_start_another(study, cfg):
        trials.memory.before_trial()
        study.optimize(
            trials.objective,
            n_trials=1,
            catch=(TrialFailed,),
            callbacks=[trials.after_trial],
            gc_after_trial=True,
        )
        if trials.retry:
            raise RecycleProcess(trials.retry[0], trials.memory.trial_need_mb)
        if _should_start_another(study, cfg):  # no restart only to find nothing to do
            trials.memory.after_trial()


class _Trials:
    """This process's trials of the study: the objective Optuna calls, and the report after
    each. ``retry`` names a configuration refused for memory that a fresh process may hold
    (re-queued; the process should restart)."""

    def __init__(self, search: SearchRun) -> None:
        self.search_run = search
        self.memory = search.cfg.memory_watch()
        self.contexts: dict[int, TrialContext] = {}
        self.retry: list[str] = []

    def objective(self, trial: optuna.Trial) -> float:
        import optuna

        run = self.search_run
        cfg, space = run.cfg, run.cfg.space
        ctx = self.contexts[trial.number] = TrialContext(
            cfg, run.source, run.progress, trial, cfg.tuner, run.options
        )
        params = space.suggest_optuna(trial)
        if _surplus(run.study, trial.number, cfg.trials):
            reason = "surplus: the study had its trials when this worker started this one"
            self.memory.untrained()
            ctx.ended(Outcome(failed=False, reason=reason, refused=True))
            raise optuna.TrialPruned(reason)

        def report(epoch: int, logs: dict[str, float]) -> None:
            ctx.report(epoch, logs)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        try:
            keywords: TrainKeywords = {**ctx.train_kwargs(params), "report": report}
            split = trial_split(
                run.source, space, params, keywords["options"], keywords["on_model"]
            )
            result = run_trial(space.model, params, split, **keywords)
        except BaseException as exc:
            outcome = outcome_of(exc, self.memory)
            ctx.ended(outcome)
            if outcome.retry:  # queued again, for a fresh process (this one restarts)
                run.study.enqueue_trial(dict(trial.params))
                self.retry.append(f"trial {trial.number}: {outcome.retry} in this process")
            if outcome.stops:
                raise
            if outcome.failed:  # caught by study.optimize: FAIL, and the search goes on
                raise TrialFailed(outcome.reason) from exc
            raise optuna.TrialPruned(outcome.reason) from exc  # refused ones teach the sampler
        ctx.finished(result)
        return result.best_val_accuracy

    def after_trial(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        from optuna.trial import TrialState

        ctx = self.contexts.pop(frozen.number, None)
        best, epochs, duration = ctx.summary() if ctx else (None, 0, 0.0)
        reason = frozen.user_attrs.get(FAIL_REASON) or ""
        note = reason if frozen.state == TrialState.FAIL else frozen.user_attrs.get(PRUNE_REASON)
        skipped = bool(frozen.user_attrs.get(SKIPPED))
        self.search_run.progress.trial_done(
            frozen.number,
            frozen.state,
            best,
            epochs,
            duration,
            note=(note or "")[:120],
            skipped=skipped,
        )
        self.search_run.streak.update(frozen.state, note or reason, skipped=skipped)


def _should_start_another(study: optuna.Study, cfg: SearchConfig) -> bool:
    """True while counted (completed or pruned) + running trials fall short of
    ``--trials`` and the study's epochs short of ``--epoch-budget``."""
    import optuna

    optuna.storages.fail_stale_trials(study)  # a killed worker's trial: failed, retry queued
    fail_orphaned_trials(study)  # ... at once when that worker ran on this machine
    return _taken(study.get_trials(deepcopy=False)) < cfg.trials and not budget_spent(cfg, study)


def _taken(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Places of --trials taken: counted trials and search trials still running."""
    from optuna.trial import TrialState

    from mmtune.ledger.evaluations import counts_toward_trials, is_reevaluation

    running = sum(t.state == TrialState.RUNNING and not is_reevaluation(t) for t in trials)
    return sum(counts_toward_trials(t) for t in trials) + running


def _surplus(study: optuna.Study, number: int, target: int) -> bool:
    """True when the places were all taken by earlier trials as this one started: several
    workers that looked at the study at the same moment each started one."""
    earlier = [t for t in study.get_trials(deepcopy=False) if t.number < number]
    return _taken(earlier) >= target
