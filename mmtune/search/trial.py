"""One trial's life, shared by every backend and the re-evaluations: its ledger records,
progress and timing, the data at its resolution, the one rule from an exception to its
outcome (:func:`outcome_of`), and the failure streaks that stop a search.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from mmtune.errors import (
    DataError,
    FatalSearchError,
    MmtuneError,
    ModelTooLarge,
    OverMemoryCeiling,
    TrialFailed,
)
from mmtune.keras_backend import compilations
from mmtune.ledger.evaluations import evaluation_seed
from mmtune.ledger.records import (
    COMPILE_S,
    DATA_HASH,
    DATA_PATH,
    EPOCHS,
    FAIL_REASON,
    OPTUNA_RETRIED_TRIAL,
    OWNER,
    PARAMS_COUNT,
    PROGRAMS_COMPILED,
    PROGRAMS_FROM_CACHE,
    RETRY_OF,
    SEED,
    SKIPPED,
    TUNER,
    VAL_ACCURACY_CURVE,
    VAL_ROWS,
)
from mmtune.ledger.store import record_end, record_epoch, record_result
from mmtune.model.params import Params
from mmtune.search.orphans import owner_of_this_process

if TYPE_CHECKING:
    import keras
    import optuna

    from mmtune.data.trial_data import DataSource, SplitData
    from mmtune.model.callbacks import EpochReport
    from mmtune.model.training import TrainOptions, TrialResult
    from mmtune.search.config import SearchConfig
    from mmtune.search.memory import MemoryWatch
    from mmtune.search.progress import SearchProgress
    from mmtune.search.spaces import Space

__all__ = [
    "FailureStreak",
    "TrainKeywords",
    "TrialContext",
    "default_resolution",
    "Outcome",
    "outcome_of",
    "trial_split",
]


#: Failure reasons that say nothing of the configuration (Ctrl-C, a killed process).
_NOT_THE_CONFIGURATION = ("interrupted", "its process")


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

    @classmethod
    def from_study(cls, study: optuna.Study, limit: int, skip_limit: int = 20) -> FailureStreak:
        """The streaks the study's last search trials left, so that a recycled or resumed
        process goes on counting (a process refusing every configuration for memory restarts
        after each: counted per process, its streak never ended the search). Trials failed
        by an interruption or a killed process are not the configuration's doing: skipped."""
        from optuna.trial import TrialState

        from mmtune.ledger.evaluations import is_reevaluation

        streak = cls(limit, skip_limit)
        ended = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        trials = [
            t
            for t in study.get_trials(deepcopy=False, states=ended)
            if not is_reevaluation(t)
            and not str(t.user_attrs.get(FAIL_REASON, "")).startswith(_NOT_THE_CONFIGURATION)
        ]
        skips_open = True
        for t in sorted(trials, key=lambda t: t.number, reverse=True):
            if t.user_attrs.get(SKIPPED):
                if skips_open:
                    streak.skipped_in_a_row += 1
                continue
            skips_open = False
            if t.state != TrialState.FAIL:
                break
            streak.count += 1
            streak.last_reason = streak.last_reason or str(t.user_attrs.get(FAIL_REASON, ""))
        return streak

    def update(
        self, state: optuna.trial.TrialState, reason: str = "", *, skipped: bool = False
    ) -> None:
        """Counts a finished trial; ``skipped``: refused before training (recorded as pruned)."""
        from optuna.trial import TrialState

        if skipped:
            self.skipped += 1
            self.skipped_in_a_row += 1
            if self.skip_limit and self.skipped_in_a_row >= self.skip_limit:
                raise FatalSearchError(
                    f"{self.skipped_in_a_row} configurations in a row were refused before "
                    f"training ({reason}); the search stops. Raise --max-params / --max-cost / "
                    "--max-memory-mb (0: no limit) or narrow the space's ranges."
                )
            return
        self.skipped_in_a_row = 0
        if state != TrialState.FAIL:
            self.count = 0
            return
        self.count += 1
        self.last_reason = reason
        if self.limit and self.count >= self.limit:
            raise FatalSearchError(
                f"{self.count} trials failed in a row; the search stops. Last failure: "
                f"{self.last_reason or 'unknown'}. See `mmtune results --trial N` for each "
                "failed trial's reason."
            )


class TrainKeywords(TypedDict):
    """The :func:`mmtune.model.training.train_model` keywords every backend passes for a
    trial (:meth:`TrialContext.train_kwargs`)."""

    options: TrainOptions
    seed: int
    report: EpochReport
    on_model: Callable[[keras.Model], None]
    callbacks: list[keras.callbacks.Callback]


class TrialContext:
    """One trial's bookkeeping, shared by every backend: ledger records, progress, timing."""

    def __init__(
        self,
        cfg: SearchConfig,
        source: DataSource,
        progress: SearchProgress,
        trial: optuna.Trial,
        tuner: str,
        options: TrainOptions,
    ) -> None:
        self.cfg = cfg
        self.options = options
        self.source = source
        self.progress = progress
        self.trial = trial
        self.started = time.perf_counter()
        self._compiled = compilations()
        self._start_clean(trial)
        trial.set_user_attr(TUNER, tuner)
        trial.set_user_attr(OWNER, owner_of_this_process())
        if not source.data_hash:  # the data check loads it first; a backend alone, here
            source.get(default_resolution(cfg.space))
        trial.set_user_attr(DATA_HASH, source.data_hash)
        trial.set_user_attr(DATA_PATH, str(source.data_dir))
        trial.set_user_attr(VAL_ROWS, source.val_rows)
        progress.trial_started(trial.number)

    @staticmethod
    def _start_clean(trial: optuna.Trial) -> None:
        """A retried trial arrives with the killed one's records: keep only where it came from."""
        frozen = next(
            (t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number), None
        )
        if frozen is None:
            return
        retry_of = frozen.system_attrs.get(OPTUNA_RETRIED_TRIAL)
        if retry_of is not None:
            trial.set_user_attr(RETRY_OF, int(retry_of))
            for key in frozen.user_attrs:
                if key != RETRY_OF:
                    trial.set_user_attr(key, None)

    def report(self, epoch: int, logs: dict[str, float]) -> None:
        record_epoch(self.trial, epoch, logs)
        self.progress.epoch_done(epoch, logs.get("val_accuracy"))

    def on_model(self, model: keras.Model) -> None:
        self.trial.set_user_attr(PARAMS_COUNT, int(model.count_params()))

    def tensorboard_callbacks(self, params: Params) -> list[keras.callbacks.Callback]:
        if not self.cfg.tensorboard:
            return []
        from mmtune.locations import study_dir
        from mmtune.search.tensorboard_runs import trial_callbacks

        runs = study_dir(self.cfg.results_dir, self.cfg.study_name) / "tensorboard"
        return trial_callbacks(runs / f"trial_{self.trial.number:04d}", params)

    def train_kwargs(self, params: Params) -> TrainKeywords:
        """The ``train_model`` arguments every backend passes for this trial: the search's
        options, this trial's seed (recorded), and its hooks."""
        seed = evaluation_seed(self.cfg.seed, self.trial.number, 0)
        self.trial.set_user_attr(SEED, seed)
        return TrainKeywords(
            options=self.options,
            seed=seed,
            report=self.report,
            on_model=self.on_model,
            callbacks=self.tensorboard_callbacks(params),
        )

    def finished(self, result: TrialResult) -> None:
        record_result(self.trial, result)
        self._record_compilation()

    def ended(self, outcome: Outcome) -> None:
        """Record a trial that did not complete, as :func:`outcome_of` judged it."""
        self._record_compilation()
        record_end(
            self.trial,
            failed=outcome.failed,
            reason=outcome.reason,
            skipped=outcome.refused,
            duration_s=time.perf_counter() - self.started,
        )

    def _record_compilation(self) -> None:
        """What the trial's programs cost to compile (JAX: ``compile_s``, and how many were
        compiled or read back from the compilation cache); nothing where the backend does not
        say."""
        now = compilations()
        if not now:
            return
        spent = {k: now[k] - self._compiled.get(k, 0.0) for k in now}
        self.trial.set_user_attr(COMPILE_S, round(spent["compile_s"], 3))
        self.trial.set_user_attr(PROGRAMS_COMPILED, int(spent["compiled"] - spent["cache_hits"]))
        self.trial.set_user_attr(PROGRAMS_FROM_CACHE, int(spent["cache_hits"]))

    def summary(self) -> tuple[float | None, int, float]:
        attrs = self.trial.user_attrs
        curve = attrs.get(VAL_ACCURACY_CURVE) or []
        best = max(curve) if curve else None
        return best, int(attrs.get(EPOCHS) or len(curve)), time.perf_counter() - self.started


def default_resolution(space: Space) -> int:
    """The resolution of the space's default configuration (the seed's when it has none)."""
    from mmtune.model.networks import SEED_RESOLUTION

    return int(space.defaults().get("resolution", SEED_RESOLUTION))


def trial_split(
    source: DataSource,
    space: Space,
    params: Params,
    options: TrainOptions | None = None,
    on_model: Callable[[keras.Model], None] | None = None,
) -> SplitData:
    """The data at the resolution a trial's parameters ask for. With ``options``, when that
    resolution is not the one loaded, a configuration over their size or memory limits is
    refused first (:class:`~mmtune.errors.ModelTooLarge`), before that resolution's pictures
    are decoded or opened for nothing (a 128 px cache at the competition's size takes a
    minute to build); ``on_model`` sees its weightless model, to record its size. At the
    loaded resolution the trainer's own check is the only one: the weightless model is
    built once a trial, not twice."""
    resolution = int(params.get("resolution", default_resolution(space)))
    shapes = None if source.loaded(resolution) else source.shapes(resolution)
    if options is not None and shapes is not None:  # else the trainer's own check suffices
        from mmtune.model.training import refuse_if_untrainable

        refuse_if_untrainable(space.model, params, shapes, options, on_model)
    return source.get(resolution)


@dataclass(frozen=True)
class Outcome:
    """What became of a trial that raised: how the ledger records it and what comes next.

    ``failed``: a failed trial (else pruned); ``reason``: why, as recorded and shown;
    ``refused``: refused before training (recorded ``skipped``: not counted toward
    ``--trials``, information for the sampler); ``retry``: refused for this grown process's
    memory, what the configuration needs, when a fresh process may hold it; ``stops``: the
    search stops (Ctrl-C, bad data, a fatal streak): recorded, then raised again.
    """

    failed: bool
    reason: str
    refused: bool = False
    retry: str = ""
    stops: bool = False

    def state(self, reevaluation: bool = False) -> optuna.trial.TrialState:
        """The trial's state: FAIL or PRUNED. A refused re-evaluation is FAIL (and skipped):
        it has no epoch to be pruned at, and counts as an attempt of its configuration."""
        from optuna.trial import TrialState

        failed = self.failed or (reevaluation and self.refused)
        return TrialState.FAIL if failed else TrialState.PRUNED


def outcome_of(exc: BaseException, memory: MemoryWatch) -> Outcome:
    """The one rule from an exception raised inside a trial to its outcome, for every backend
    and the re-evaluations. A refusal is told to ``memory`` (:meth:`MemoryWatch.untrained`:
    the process built nothing), after asking it whether a fresh process may hold the
    configuration (:meth:`MemoryWatch.refusal_reason`)."""
    import optuna

    if isinstance(exc, optuna.TrialPruned):  # the pruner's: the curve says why
        return Outcome(failed=False, reason="")
    if isinstance(exc, OverMemoryCeiling):
        retried, reason = memory.refusal_reason(exc.need, exc.need_mb)
        memory.untrained()
        return Outcome(False, reason, refused=True, retry=exc.need if retried else "")
    if isinstance(exc, ModelTooLarge):  # over --max-params / --max-cost
        memory.untrained()
        return Outcome(False, str(exc), refused=True)
    if isinstance(exc, KeyboardInterrupt):
        return Outcome(True, "interrupted (Ctrl-C)", stops=True)
    if isinstance(exc, (DataError, FatalSearchError)) or not isinstance(exc, Exception):
        return Outcome(True, f"{type(exc).__name__}: {exc}", stops=True)
    if isinstance(exc, (TrialFailed, MmtuneError)):  # NaN, OOM; impossible parameters
        return Outcome(True, str(exc))
    return Outcome(True, f"{type(exc).__name__}: {exc}")  # a crash fails this trial alone
