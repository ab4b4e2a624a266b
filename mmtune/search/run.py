"""Run (or resume) a search: check the data, open the study, hand it to a tuner backend,
then re-evaluate the finalists.

The backends (:mod:`mmtune.search.backends`) share :mod:`mmtune.search.trial`'s per-trial
bookkeeping and failure rules; this module only orchestrates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from mmtune.data.trial_data import DataSource
from mmtune.errors import MmtuneError, shown
from mmtune.ledger.records import DURATION_S, MODEL
from mmtune.ledger.store import Ledger, StudyMeta, finished_count
from mmtune.locations import study_name_problem
from mmtune.model.networks import macs_budget
from mmtune.model.training import TrainOptions
from mmtune.search.backends import Backend, SearchRun, backend_for
from mmtune.search.budget import (
    budget_said,
    budget_spent,
    race_budget_spent,
    search_share_said,
    searched_enough,
)
from mmtune.search.config import SearchConfig, SearchOutcome
from mmtune.search.orphans import fail_orphaned_trials
from mmtune.search.progress import SearchProgress
from mmtune.search.trial import FailureStreak, default_resolution
from mmtune.search.tuners import names_that, tuner_named

if TYPE_CHECKING:
    import optuna

    from mmtune.ledger.evaluations import Configuration

__all__ = ["PreparedSearch", "STARTING_POINTS", "prepare_search", "run_search"]

STARTING_POINTS = "starting-points"  # the claim of queuing a new study's starting points
_POLL_S = 2.0  # how often a worker waiting for others' trials looks again


@dataclass
class PreparedSearch:
    """A checked data set and an open study, ready for a backend."""

    source: DataSource
    ledger: Ledger
    study: optuna.Study
    backend: Backend


def prepare_search(cfg: SearchConfig) -> PreparedSearch:
    """Check the data (building its cache), then create or resume the study."""
    tuner = tuner_named(cfg.tuner)
    tuner.check_available()
    if cfg.trials < 1:
        raise MmtuneError(f"Expected --trials of at least 1. Received: trials={cfg.trials}")
    problem = study_name_problem(cfg.study_name)
    if problem is not None:  # the command line checks --study; a caller of this function too
        raise MmtuneError(f"study {shown(cfg.study_name)}: {problem}")
    from mmtune import keras_backend

    if cfg.tensorboard and keras_backend.name() != "tensorflow":
        raise MmtuneError(
            "--tensorboard writes TensorFlow's event files: it needs KERAS_BACKEND=tensorflow. "
            f"Received: KERAS_BACKEND={keras_backend.name()}"
        )
    keras_backend.set_precision(cfg.precision)
    source = DataSource(Path(cfg.data_dir))
    data = source.get(default_resolution(cfg.space)).data  # the data check, before any write
    ledger = Ledger(
        cfg.results_dir,
        cfg.storage,
        heartbeat=cfg.heartbeat if tuner.workers else None,
    )
    meta = StudyMeta(
        space=cfg.space.name,
        space_file=str(cfg.space.source),
        model=cfg.space.model,
        tuner=cfg.tuner,
        data_hash=data.data_hash,
        data_path=str(Path(cfg.data_dir).resolve()),
        max_epochs=cfg.epochs,
    )
    backend = backend_for(cfg.tuner)
    earlier = _warm_start_study(cfg, ledger)
    from mmtune.search.orphans import owner_of_this_process

    study = ledger.open_search_study(
        cfg.study_name,
        meta,
        **backend.study_options(cfg, _trials_in(ledger, cfg.study_name)),
        owner=owner_of_this_process(),
    )
    # Trials left RUNNING by a killed process of this machine: failed now (and, for the
    # sampler's search, queued again), not counted as running until the heartbeat notices.
    fail_orphaned_trials(study, retry=tuner.workers)  # else its own oracle runs it again
    if tuner.warm_start and not study.get_trials(deepcopy=False):
        _queue_starting_points(study, cfg, earlier)
    return PreparedSearch(source, ledger, study, backend)


def _queue_starting_points(
    study: optuna.Study, cfg: SearchConfig, earlier: optuna.Study | None
) -> bool:
    """Queue a new study's starting points: the seed's network, the space's portfolio, and
    the best of --warm-start's study; then the sampler. Claimed once through the storage:
    of several searches started at once on a new study, one queues them (the others saw an
    empty study too, and would have queued them again). True for the one that did."""
    from mmtune.ledger.claims import Claims
    from mmtune.search.orphans import owner_of_this_process
    from mmtune.search.portfolio import starting_points

    points = starting_points(cfg.space, earlier, portfolio=cfg.portfolio)
    if not Claims(study, owner_of_this_process()).take(STARTING_POINTS):
        return False
    for point in points:
        study.enqueue_trial(point, skip_if_exists=False)
    return True


def _warm_start_study(cfg: SearchConfig, ledger: Ledger) -> optuna.Study | None:
    """``--warm-start``'s study, checked to tune the same space's model."""
    if not cfg.warm_start:
        return None
    if not tuner_named(cfg.tuner).warm_start:
        takes = " or ".join(f"--tuner {name}" for name in names_that("warm_start"))
        raise MmtuneError(
            f"--warm-start seeds the ledger study's sampler: use it with {takes}. "
            f"Received: tuner={cfg.tuner!r}"
        )
    if cfg.warm_start == cfg.study_name:
        raise MmtuneError(
            f"--warm-start {cfg.warm_start}: that is the study being searched; "
            "a study resumes by itself"
        )
    earlier = ledger.load_study(cfg.warm_start)[0]
    if earlier.user_attrs.get(MODEL) != cfg.space.model:
        raise MmtuneError(
            f"--warm-start {cfg.warm_start}: that study tunes the model "
            f"{earlier.user_attrs.get(MODEL)!r}, not {cfg.space.model!r}"
        )
    return earlier


def run_search(cfg: SearchConfig) -> SearchOutcome:
    """Run ``cfg``'s search until the study holds ``cfg.trials`` finished trials (or has
    spent the search trials' share of ``cfg.epoch_budget``), then the finalists' race (within
    the rest of the budget: :mod:`mmtune.search.budget`)."""
    from mmtune.search.reevaluate import next_evaluation, reevaluate_finalists

    prepared = prepare_search(cfg)
    study = prepared.study
    done = finished_count(study)
    progress = SearchProgress(cfg.trials, done, cfg.epochs, **_progress_so_far(study))
    pending = (
        cfg.repeats > 1
        and next_evaluation(study, cfg.finalists, cfg.repeats) is not None
        and not race_budget_spent(cfg, study)
    )
    enough = searched_enough(cfg, study)
    if enough and not pending:
        progress.message(
            f"study {cfg.study_name!r} already holds {done} finished trials "
            f"(--trials {cfg.trials}{budget_said(cfg, study)}); nothing to run. Raise "
            f"--trials{' or --epoch-budget' if cfg.epoch_budget else ''} to search more."
        )
    elif not enough:
        from mmtune.keras_backend import device_description

        progress.message(
            f"study {cfg.study_name!r}: {done} of {cfg.trials} trials done; "
            f"tuner {cfg.tuner}, up to {cfg.epochs} epochs a trial, on "
            f"{device_description()}; ledger {prepared.ledger.display_url}"
        )
        options = train_options(
            cfg,
            macs_budget(
                cfg.space.model,
                cfg.space.defaults(),
                prepared.source.get(default_resolution(cfg.space)).input_spec(),
                cfg.max_cost,
            ),
        )
        streak = FailureStreak.from_study(study, cfg.max_failures, cfg.max_skips)
        run = SearchRun(study, cfg, prepared.source, progress, streak, options)
        prepared.backend.run(run)
        shared = tuner_named(cfg.tuner).workers
        while shared and _others_still_running(study, cfg, progress):
            prepared.backend.run(run)  # a place freed (a worker died): take it
        if streak.skipped:
            progress.message(
                f"{streak.skipped} configuration(s) were refused before training "
                "(over --max-params / --max-cost / --max-memory-mb): kept in the ledger for the "
                "sampler, not counted toward --trials"
            )
    if searched_enough(cfg, study):
        if budget_spent(cfg, study) and finished_count(study) < cfg.trials:
            progress.message(search_share_said(cfg, study))
        reevaluate_finalists(study, cfg, prepared.source, progress, train_options(cfg))
    best = _best(study)
    if best is None:
        return SearchOutcome(cfg.study_name, finished_count(study), None, None)
    return SearchOutcome(cfg.study_name, finished_count(study), best.mean, best.number, best.n)


def _others_still_running(study: optuna.Study, cfg: SearchConfig, progress: SearchProgress) -> bool:
    """Wait while other workers' search trials run and the study is short of ``--trials``
    (this worker started none more: every place is taken). Their results come before the
    finalists' race and the best every worker names. True when a place opened (a worker
    died: its trial failed, to be retried), False once the trials are in or none runs."""
    import time

    import optuna
    from optuna.trial import TrialState

    from mmtune.ledger.evaluations import is_reevaluation

    said = False
    while not searched_enough(cfg, study):
        optuna.storages.fail_stale_trials(study)  # a dead worker's trial: failed, retried
        fail_orphaned_trials(study)
        running = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if not is_reevaluation(t)
        ]
        if finished_count(study) + len(running) < cfg.trials and not budget_spent(cfg, study):
            return True  # a place to take
        if not said:
            progress.message(
                f"waiting for {len(running)} trial(s) other workers are running, before the "
                "finalists' race"
            )
            said = True
        time.sleep(min(_POLL_S, cfg.heartbeat))
    return False


def train_options(cfg: SearchConfig, max_macs: int | None = None) -> TrainOptions:
    """How this search's trials train, built once."""
    from mmtune.keras_backend import jit_setting

    return TrainOptions(
        epochs=cfg.epochs,
        patience=cfg.patience,
        jit_compile=jit_setting(cfg.jit),
        feed=cfg.feed,
        max_params=cfg.max_params,
        max_macs=max_macs,
        memory_ceiling_mb=cfg.max_memory_mb,
        keep_val_probabilities=True,  # the leaderboard's seed-average figure
    )


class _SoFar(TypedDict):
    """:class:`SearchProgress`'s keywords for what a resumed study already holds."""

    best: tuple[float, int] | None
    spent_s: float


def _progress_so_far(study: optuna.Study) -> _SoFar:
    """The study's best single result and the seconds its counted trials took."""
    from optuna.trial import TrialState

    from mmtune.ledger.evaluations import counts_toward_trials, trial_value

    counted = [t for t in study.get_trials(deepcopy=False) if counts_toward_trials(t)]
    values = [(trial_value(t), t.number) for t in counted if t.state == TrialState.COMPLETE]
    scored = [(v, n) for v, n in values if v is not None]
    best = max(scored, key=lambda s: (s[0], -s[1])) if scored else None
    return {
        "best": best,
        "spent_s": sum(float(t.user_attrs.get(DURATION_S) or 0.0) for t in counted),
    }


def _trials_in(ledger: Ledger, name: str) -> int:
    """Trials a study already holds: a resumed search seeds its sampler past them, so it
    does not draw the same random configurations again."""
    import optuna

    if name not in ledger.study_names():
        return 0
    return len(optuna.load_study(study_name=name, storage=ledger.storage()).trials)


def _best(study: optuna.Study) -> Configuration | None:
    """The leaderboard's first configuration."""
    from mmtune.ledger.evaluations import configurations

    ranked = [c for c in configurations(study) if c.complete]
    return ranked[0] if ranked else None
