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
from mmtune.ledger.store import Ledger, StudyMeta, finished_count
from mmtune.locations import study_name_problem
from mmtune.model.networks import macs_budget
from mmtune.model.training import TrainOptions
from mmtune.search.backends import Backend, SearchRun, backend_for
from mmtune.search.config import OPTUNA_TUNERS, TUNERS, SearchConfig, SearchOutcome
from mmtune.search.orphans import fail_orphaned_trials
from mmtune.search.progress import SearchProgress
from mmtune.search.trial import FailureStreak, default_resolution

if TYPE_CHECKING:
    import optuna

    from mmtune.ledger.evaluations import Configuration

__all__ = ["PreparedSearch", "prepare_search", "run_search"]


@dataclass
class PreparedSearch:
    """A checked data set and an open study, ready for a backend."""

    source: DataSource
    ledger: Ledger
    study: optuna.Study
    backend: Backend


def prepare_search(cfg: SearchConfig) -> PreparedSearch:
    """Check the data (building its cache), then create or resume the study."""
    if cfg.tuner not in TUNERS:
        raise MmtuneError(f"Expected a tuner among {TUNERS}. Received: tuner={cfg.tuner!r}")
    if cfg.trials < 1:
        raise MmtuneError(f"Expected --trials of at least 1. Received: trials={cfg.trials}")
    problem = study_name_problem(cfg.study_name)
    if problem is not None:  # the command line checks --study; a caller of this function too
        raise MmtuneError(f"study {shown(cfg.study_name)}: {problem}")
    from mmtune.tf_setup import set_precision

    set_precision(cfg.precision)
    source = DataSource(Path(cfg.data_dir))
    data = source.get(default_resolution(cfg.space)).data  # the data check, before any write
    ledger = Ledger(
        cfg.results_dir,
        cfg.storage,
        heartbeat=cfg.heartbeat if cfg.tuner in OPTUNA_TUNERS else None,
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
    study = ledger.open_search_study(
        cfg.study_name, meta, **backend.study_options(cfg, _trials_in(ledger, cfg.study_name))
    )
    # Trials left RUNNING by a killed process of this machine: failed now (and, for the
    # sampler's search, queued again), not counted as running until the heartbeat notices.
    fail_orphaned_trials(study, retry=cfg.tuner in OPTUNA_TUNERS)
    if cfg.tuner in OPTUNA_TUNERS and not study.get_trials(deepcopy=False):
        from mmtune.search.portfolio import starting_points

        # A new study starts from the seed's network, the space's portfolio, and the best of
        # --warm-start's study; then the sampler.
        for point in starting_points(cfg.space, earlier, portfolio=cfg.portfolio):
            study.enqueue_trial(point, skip_if_exists=False)
    return PreparedSearch(source, ledger, study, backend)


def _warm_start_study(cfg: SearchConfig, ledger: Ledger) -> optuna.Study | None:
    """``--warm-start``'s study, checked to tune the same space's model."""
    if not cfg.warm_start:
        return None
    if cfg.tuner not in OPTUNA_TUNERS:
        raise MmtuneError(
            f"--warm-start seeds Optuna's sampler: use it with --tuner tpe. "
            f"Received: tuner={cfg.tuner!r}"
        )
    if cfg.warm_start == cfg.study_name:
        raise MmtuneError(
            f"--warm-start {cfg.warm_start}: that is the study being searched; "
            "a study resumes by itself"
        )
    earlier = ledger.load_study(cfg.warm_start)[0]
    if earlier.user_attrs.get("model") != cfg.space.model:
        raise MmtuneError(
            f"--warm-start {cfg.warm_start}: that study tunes the model "
            f"{earlier.user_attrs.get('model')!r}, not {cfg.space.model!r}"
        )
    return earlier


def run_search(cfg: SearchConfig) -> SearchOutcome:
    """Run ``cfg``'s search until the study holds ``cfg.trials`` finished trials."""
    from mmtune.search.reevaluate import next_evaluation, reevaluate_finalists

    prepared = prepare_search(cfg)
    study = prepared.study
    done = finished_count(study)
    progress = SearchProgress(cfg.trials, done, cfg.epochs, **_progress_so_far(study))
    pending = cfg.repeats > 1 and next_evaluation(study, cfg.finalists, cfg.repeats) is not None
    if done >= cfg.trials and not pending:
        progress.message(
            f"study {cfg.study_name!r} already holds {done} finished trials "
            f"(--trials {cfg.trials}); nothing to run. Raise --trials to search more."
        )
    elif done < cfg.trials:
        from mmtune.tf_setup import device_description

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
        prepared.backend.run(SearchRun(study, cfg, prepared.source, progress, streak, options))
        if streak.skipped:
            progress.message(
                f"{streak.skipped} configuration(s) were refused before training "
                "(over --max-params / --max-cost / --max-memory-mb): kept in the ledger for the "
                "sampler, not counted toward --trials"
            )
    if finished_count(study) >= cfg.trials:
        reevaluate_finalists(study, cfg, prepared.source, progress, train_options(cfg))
    best = _best(study)
    if best is None:
        return SearchOutcome(cfg.study_name, finished_count(study), None, None)
    return SearchOutcome(cfg.study_name, finished_count(study), best.mean, best.number, best.n)


def train_options(cfg: SearchConfig, max_macs: int | None = None) -> TrainOptions:
    """How this search's trials train, built once."""
    from mmtune.tf_setup import jit_setting

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
        "spent_s": sum(float(t.user_attrs.get("duration_s") or 0.0) for t in counted),
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
