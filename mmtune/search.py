"""Run (or resume) a search: check the data, open the study, hand it to a tuner backend.

The backends (:mod:`mmtune.optuna_backend`, :mod:`mmtune.keras_tuner_backend`)
share what is here: the per-trial bookkeeping of :class:`TrialContext` and
the consecutive-failure rule of :class:`FailureStreak`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmtune.errors import DataError, FatalSearchError, MmtuneError, TrialFailed
from mmtune.evaluations import SKIPPED
from mmtune.orphans import OWNER, fail_orphaned_trials, owner_of_this_process
from mmtune.ledger import Ledger, StudyMeta, finished_count, record_epoch, record_result
from mmtune.progress import SearchProgress
from mmtune.trial_data import DataSource, SplitData

if TYPE_CHECKING:
    import optuna

    from mmtune.evaluations import Configuration
    from mmtune.spaces import Space

__all__ = ["SearchConfig", "SearchOutcome", "PreparedSearch", "prepare_search", "run_search",
           "TrialContext", "FailureStreak"]

OPTUNA_TUNERS = ("tpe",)
KERAS_TUNER_TUNERS = ("hyperband", "bayesian", "random")


@dataclass
class SearchConfig:
    """Everything a search needs, as the command line gives it."""

    space: Space
    data_dir: Path
    trials: int = 40
    tuner: str = "tpe"
    pruner: str = "median"
    max_epochs: int | None = None
    study: str | None = None
    results_dir: Path = Path("results")
    storage: str | None = None
    seed: int = 0
    tensorboard: bool = False
    max_failures: int = 5
    max_skips: int = 20  # configurations refused untrained in a row before the search stops
    strict: bool = False
    workers: int = 1
    heartbeat: int = 10
    patience: int = 3
    precision: str = "float32"
    jit: str = "auto"
    feed: str = "pipeline"
    max_params: int | None = 8_000_000
    max_cost: float | None = 4.0
    finalists: int = 3  # configurations re-evaluated before the search names its best
    repeats: int = 3  # evaluations (seeds) each finalist gets, the search trial included
    max_macs: int | None = None  # set from max_cost when the search starts
    recycle_mb: int | None = None  # re-exec after this much growth (command line only)
    warm_start: str | None = None  # an earlier study whose best configurations a new one tries
    portfolio: bool = True  # a new study tries the space's portfolio after the seed's network

    @property
    def study_name(self) -> str:
        return self.study or self.space.name

    @property
    def epochs(self) -> int:
        return int(self.max_epochs or self.space.max_epochs)


@dataclass
class SearchOutcome:
    study_name: str
    trials_done: int
    best_value: float | None
    best_trial: int | None
    best_evals: int = 0


class FailureStreak:
    """Stops the search after ``limit`` failed trials in a row, or after ``skip_limit``
    configurations in a row refused before training (the space's samples do not fit the
    budgets); counts the refused ones."""

    def __init__(self, limit: int, skip_limit: int = 20) -> None:
        self.limit = limit
        self.skip_limit = skip_limit
        self.count = 0
        self.skipped_in_a_row = 0
        self.skipped = 0
        self.last_reason = ""

    def update(self, state: str, reason: str = "") -> None:
        if state == "SKIPPED":
            self.skipped += 1
            self.skipped_in_a_row += 1
            if self.skip_limit and self.skipped_in_a_row >= self.skip_limit:
                raise FatalSearchError(
                    f"{self.skipped_in_a_row} configurations in a row were refused before "
                    f"training ({reason}); the search stops. Raise --max-params / --max-cost "
                    "(0: no limit) or narrow the space's ranges.")
            return
        self.skipped_in_a_row = 0
        if state != "FAIL":
            self.count = 0
            return
        self.count += 1
        self.last_reason = reason
        if self.limit and self.count >= self.limit:
            raise FatalSearchError(
                f"{self.count} trials failed in a row; the search stops. Last failure: "
                f"{self.last_reason or 'unknown'}. See `mmtune results --trial N` for each "
                "failed trial's reason.")


class TrialContext:
    """One trial's bookkeeping, shared by every backend: ledger records, progress, timing."""

    def __init__(self, cfg: SearchConfig, source: DataSource, progress: SearchProgress,
                 trial: optuna.Trial, tuner: str) -> None:
        self.cfg = cfg
        self.source = source
        self.progress = progress
        self.trial = trial
        self.started = time.perf_counter()
        self._start_clean(trial)
        trial.set_user_attr("tuner", tuner)
        trial.set_user_attr(OWNER, owner_of_this_process())
        trial.set_user_attr("data_hash", source_hash(source, cfg))
        trial.set_user_attr("data_path", str(source.data_dir))
        trial.set_user_attr("val_rows", int(len(source.get(_default_resolution(cfg.space)).val_idx)))
        progress.trial_started(trial.number)

    @staticmethod
    def _start_clean(trial: optuna.Trial) -> None:
        """A retried trial arrives with the killed one's records: keep only where it came from."""
        frozen = next((t for t in trial.study.get_trials(deepcopy=False)
                       if t.number == trial.number), None)
        if frozen is None:
            return
        retry_of = frozen.system_attrs.get("failed_trial")
        if retry_of is not None:
            trial.set_user_attr("retry_of", int(retry_of))
            for key in frozen.user_attrs:
                if key != "retry_of":
                    trial.set_user_attr(key, None)

    def report(self, epoch: int, logs: dict[str, float]) -> None:
        record_epoch(self.trial, epoch, logs)
        self.progress.epoch_done(epoch, logs.get("val_accuracy"))

    def on_model(self, model: Any) -> None:
        self.trial.set_user_attr("params_count", int(model.count_params()))

    def tensorboard_callbacks(self, params: dict[str, Any]) -> list[Any]:
        if not self.cfg.tensorboard:
            return []
        from mmtune.tensorboard_runs import trial_callbacks

        runs = self.cfg.results_dir / self.cfg.study_name / "tensorboard"
        return trial_callbacks(runs / f"trial_{self.trial.number:04d}", params)

    def training_options(self, params: dict[str, Any]) -> dict[str, Any]:
        """The search-wide ``train_model`` keywords every backend passes for this trial."""
        from mmtune.reevaluate import evaluation_seed
        from mmtune.tf_setup import jit_setting

        seed = evaluation_seed(self.cfg.seed, self.trial.number, 0)
        self.trial.set_user_attr("seed", seed)
        return dict(seed=seed, on_model=self.on_model,
                    patience=self.cfg.patience, jit_compile=jit_setting(self.cfg.jit),
                    feed=self.cfg.feed, max_params=self.cfg.max_params,
                    max_macs=self.cfg.max_macs, callbacks=self.tensorboard_callbacks(params))

    def finished(self, result: Any) -> None:
        record_result(self.trial, result)

    def failed(self, reason: str) -> None:
        self.trial.set_user_attr("fail_reason", reason[:2000])
        self.trial.set_user_attr("duration_s", round(time.perf_counter() - self.started, 3))

    def pruned(self, reason: str = "", skipped: bool = False) -> None:
        """A pruned trial; ``skipped``: refused before training, so not counted toward --trials."""
        if reason:
            self.trial.set_user_attr("prune_reason", reason[:2000])
        if skipped:
            self.trial.set_user_attr(SKIPPED, True)
        self.trial.set_user_attr("duration_s", round(time.perf_counter() - self.started, 3))

    def summary(self) -> tuple[float | None, int, float]:
        attrs = self.trial.user_attrs
        curve = attrs.get("val_accuracy_curve") or []
        best = max(curve) if curve else None
        return best, int(attrs.get("epochs") or len(curve)), time.perf_counter() - self.started


def source_hash(source: DataSource, cfg: SearchConfig) -> str:
    """The data's content hash (the same at every resolution)."""
    return source.get(_default_resolution(cfg.space)).data.data_hash


def _default_resolution(space: Space) -> int:
    return int(space.defaults().get("resolution", 64))


def trial_split(source: DataSource, space: Space, params: dict[str, Any]) -> SplitData:
    """The data at the resolution a trial's parameters ask for."""
    return source.get(int(params.get("resolution", _default_resolution(space))))


@contextmanager
def failing_as_trial_error() -> Iterator[None]:
    """Turn a crash inside a trial into :class:`TrialFailed`; data and fatal errors pass."""
    import optuna

    try:
        yield
    except (TrialFailed, optuna.TrialPruned, DataError, FatalSearchError, KeyboardInterrupt):
        raise
    except MmtuneError as exc:  # impossible parameters, e.g. too many blocks for the resolution
        raise TrialFailed(str(exc)) from exc
    except Exception as exc:
        raise TrialFailed(f"{type(exc).__name__}: {exc}") from exc


@dataclass
class PreparedSearch:
    """A checked data set and an open study, ready for a backend."""

    source: DataSource
    ledger: Ledger
    study: optuna.Study
    backend: Any


def max_macs(cfg: SearchConfig, source: DataSource) -> int | None:
    """``--max-cost`` in multiply-accumulates: that many times the space's default model's."""
    if not cfg.max_cost:
        return None
    import keras

    from mmtune.models import build_model, model_macs

    defaults = cfg.space.defaults()
    seed_model = build_model(cfg.space.model, defaults,
                             source.get(_default_resolution(cfg.space)).input_spec())
    budget = int(cfg.max_cost * model_macs(seed_model))
    keras.backend.clear_session()
    return budget


def prepare_search(cfg: SearchConfig) -> PreparedSearch:
    """Check the data (building its cache), then create or resume the study."""
    if cfg.tuner not in OPTUNA_TUNERS + KERAS_TUNER_TUNERS:
        raise MmtuneError(f"Expected a tuner among {OPTUNA_TUNERS + KERAS_TUNER_TUNERS}. "
                          f"Received: tuner={cfg.tuner!r}")
    if cfg.trials < 1:
        raise MmtuneError(f"Expected --trials of at least 1. Received: trials={cfg.trials}")
    from mmtune.tf_setup import set_precision

    set_precision(cfg.precision)
    source = DataSource(Path(cfg.data_dir), strict=cfg.strict)
    data = source.get(_default_resolution(cfg.space)).data  # the data check, before any write
    ledger = Ledger(cfg.results_dir, cfg.storage,
                    heartbeat=cfg.heartbeat if cfg.tuner in OPTUNA_TUNERS else None)
    meta = StudyMeta(space=cfg.space.name, space_file=str(cfg.space.source), model=cfg.space.model,
                     tuner=cfg.tuner, data_hash=data.data_hash,
                     data_path=str(Path(cfg.data_dir).resolve()), max_epochs=cfg.epochs)
    if cfg.tuner in OPTUNA_TUNERS:
        from mmtune import optuna_backend as backend
    else:
        from mmtune import keras_tuner_backend as backend  # type: ignore[no-redef]
    earlier = _warm_start_study(cfg, ledger)
    study = ledger.open_search_study(cfg.study_name, meta,
                                     **backend.study_options(cfg, _trials_in(ledger, cfg.study_name)))
    # Trials left RUNNING by a killed process of this machine: failed now (and, for the
    # sampler's search, queued again), not counted as running until the heartbeat notices.
    fail_orphaned_trials(study, retry=cfg.tuner in OPTUNA_TUNERS)
    if cfg.tuner in OPTUNA_TUNERS and not study.get_trials(deepcopy=False):
        from mmtune.portfolio import starting_points

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
        raise MmtuneError(f"--warm-start seeds Optuna's sampler: use it with --tuner tpe. "
                          f"Received: tuner={cfg.tuner!r}")
    if cfg.warm_start == cfg.study_name:
        raise MmtuneError(f"--warm-start {cfg.warm_start}: that is the study being searched; "
                          "a study resumes by itself")
    earlier = ledger.load_study(cfg.warm_start)[0]
    if earlier.user_attrs.get("model") != cfg.space.model:
        raise MmtuneError(f"--warm-start {cfg.warm_start}: that study tunes the model "
                          f"{earlier.user_attrs.get('model')!r}, not {cfg.space.model!r}")
    return earlier


def run_search(cfg: SearchConfig, progress_stream: Any = None) -> SearchOutcome:
    """Run ``cfg``'s search until the study holds ``cfg.trials`` finished trials."""
    from mmtune.reevaluate import next_evaluation, reevaluate_finalists

    prepared = prepare_search(cfg)
    study = prepared.study
    done = finished_count(study)
    progress = SearchProgress(cfg.trials, done, cfg.epochs, stream=progress_stream,
                              **_progress_so_far(study))
    pending = cfg.repeats > 1 and next_evaluation(study, cfg.finalists, cfg.repeats) is not None
    if done >= cfg.trials and not pending:
        progress.message(f"study {cfg.study_name!r} already holds {done} finished trials "
                         f"(--trials {cfg.trials}); nothing to run. Raise --trials to search more.")
    elif done < cfg.trials:
        from mmtune.tf_setup import device_description

        progress.message(f"study {cfg.study_name!r}: {done} of {cfg.trials} trials done; "
                         f"tuner {cfg.tuner}, up to {cfg.epochs} epochs a trial, on "
                         f"{device_description()}; ledger {prepared.ledger.display_url}")
        cfg.max_macs = max_macs(cfg, prepared.source)
        streak = FailureStreak(cfg.max_failures, cfg.max_skips)
        prepared.backend.run(study, cfg, prepared.source, progress, streak)
        if streak.skipped:
            progress.message(f"{streak.skipped} configuration(s) were refused before training "
                             "(over --max-params / --max-cost): kept in the ledger for the "
                             "sampler, not counted toward --trials")
    if finished_count(study) >= cfg.trials:
        reevaluate_finalists(study, cfg, prepared.source, progress)
    best = _best(study)
    if best is None:
        return SearchOutcome(cfg.study_name, finished_count(study), None, None)
    return SearchOutcome(cfg.study_name, finished_count(study), best.mean, best.number, best.n)


def _progress_so_far(study: optuna.Study) -> dict[str, Any]:
    """The study's best single result and the seconds its counted trials took."""
    from mmtune.evaluations import counts_toward_trials, trial_value

    counted = [t for t in study.get_trials(deepcopy=False) if counts_toward_trials(t)]
    scored = [(trial_value(t), t.number) for t in counted if t.state.name == "COMPLETE"]
    scored = [(v, n) for v, n in scored if v is not None]
    best = max(scored, key=lambda s: (s[0], -s[1])) if scored else None
    return {"best": best,
            "spent_s": sum(float(t.user_attrs.get("duration_s") or 0.0) for t in counted)}


def _trials_in(ledger: Ledger, name: str) -> int:
    """Trials a study already holds: a resumed search seeds its sampler past them, so it
    does not draw the same random configurations again."""
    import optuna

    if name not in ledger.study_names():
        return 0
    return len(optuna.load_study(study_name=name, storage=ledger.storage()).trials)


def _best(study: optuna.Study) -> Configuration | None:
    """The leaderboard's first configuration."""
    from mmtune.evaluations import configurations

    ranked = [c for c in configurations(study) if c.complete]
    return ranked[0] if ranked else None
