"""The ledger: one Optuna storage that every trial of every tuner lands in.

A SQLite file under the results directory by default, any Optuna storage URL
(PostgreSQL for several workers) with ``--storage``. The leaderboard, the
report and refit read the ledger and nothing else.

What a trial carries (Optuna ``user_attrs``):
the per-epoch curves, the best epoch and its accuracy, the validation loss
there, the validation part's class probabilities at that epoch
(:mod:`mmtune.ledger.val_predictions`), the epochs run, the duration, the
model's parameter count, the data's hash and path, and for a failed trial its
reason. Each epoch's validation accuracy is also an Optuna intermediate value
(step = epoch, 1-based), which is what the pruners read.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from mmtune.errors import FatalSearchError, LedgerError
from mmtune.ledger.records import (
    BEST_EPOCH,
    BEST_VAL_ACCURACY,
    CURVES,
    DATA_HASH,
    DATA_PATH,
    DURATION_S,
    EPOCHS,
    FAIL_REASON,
    MAX_EPOCHS,
    MODEL,
    PARAMS_COUNT,
    PRUNE_REASON,
    SKIPPED,
    SPACE,
    SPACE_FILE,
    TUNER,
    VAL_LABELS,
    VAL_LOSS,
    VAL_PROBABILITIES,
    VALIDATION_S,
    curve_key,
)
from mmtune.ledger.val_predictions import StoredArray, encode
from mmtune.locations import DEFAULT_RESULTS, LEDGER_FILE

if TYPE_CHECKING:
    import optuna

    from mmtune.model.training import TrialResult

__all__ = [
    "latest_note",
    "Ledger",
    "StudyMeta",
    "StudyOptions",
    "LEDGER_FILE",
    "finished_count",
    "PendingTrial",
    "TrialRecords",
    "record_end",
    "record_epoch",
    "record_result",
    "result_predictions",
]

SQLITE_LOCK_WAIT_S = 60  # seconds a write waits for another connection's lock (SQLite)
STUDY_META = "study-meta"  # the claim of writing a new study's record
META_WAIT_S = 30  # how long a search waits for another's record of a study it just made


@dataclass(frozen=True)
class StudyMeta:
    """What a study was made from; stored as the study's user attributes."""

    space: str
    space_file: str
    model: str
    tuner: str
    data_hash: str
    data_path: str
    max_epochs: int

    def as_dict(self) -> dict[str, str | int]:
        """The study's user attributes (:mod:`mmtune.ledger.records`' keys)."""
        return {
            SPACE: self.space,
            SPACE_FILE: self.space_file,
            MODEL: self.model,
            TUNER: self.tuner,
            DATA_HASH: self.data_hash,
            DATA_PATH: self.data_path,
            MAX_EPOCHS: self.max_epochs,
        }


class StudyOptions(TypedDict):
    """How a search study samples and prunes: a backend's choice, the keywords of
    :meth:`Ledger.open_search_study`."""

    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner


class Ledger:
    """Opens the Optuna storage of a results directory (or a given URL).

    >>> ledger = Ledger(results_dir="results")                    # doctest: +SKIP
    >>> study, name, latest = ledger.load_study(None)              # doctest: +SKIP

    ``heartbeat`` (seconds) makes running trials beat; one silent for three beats is stale:
    failed, and its parameters queued again (Optuna's heartbeat and retry callback).
    """

    def __init__(
        self,
        results_dir: str | Path = DEFAULT_RESULTS,
        storage_url: str | None = None,
        heartbeat: int | None = None,
    ) -> None:
        self.results_dir = Path(results_dir)
        self.storage_url = storage_url
        self.heartbeat = heartbeat
        self._storage: optuna.storages.RDBStorage | None = None
        if storage_url and _in_memory(storage_url):
            raise LedgerError(
                f"--storage {self.display_url}: Expected a storage that keeps the ledger. "
                "Received: an in-memory SQLite database, lost when the command exits. "
                "Give a file (sqlite:///path/to/ledger.sqlite3), or leave --storage out for "
                f"{LEDGER_FILE} under --results"
            )

    @property
    def url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return f"sqlite:///{(self.results_dir / LEDGER_FILE).resolve()}"

    @property
    def display_url(self) -> str:
        """The URL as messages show it: its password masked (:func:`mmtune.redact.redact_url`)."""
        from mmtune.redact import redact_url

        return redact_url(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def exists(self) -> bool:
        """False when the default SQLite ledger has not been written yet."""
        return bool(self.storage_url) or (self.results_dir / LEDGER_FILE).exists()

    def storage(self) -> optuna.storages.BaseStorage:
        """The Optuna storage (created on first use, with heartbeats for searches)."""
        if self._storage is None:
            import optuna

            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            # Failed trials are reported by mmtune with their reason; Optuna would add tracebacks.
            optuna.logging.set_verbosity(optuna.logging.ERROR)
            logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
            kwargs: dict[str, Any] = {}
            if self.is_sqlite and not self.storage_url:
                try:
                    self.results_dir.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise LedgerError(
                        f"--results {self.results_dir}: cannot make the folder "
                        f"({exc.strerror or exc})"
                    ) from None
                # A write waits for another connection's lock (the heartbeat's thread, a second
                # process on the ledger, a loaded machine) rather than failing after 5 s.
                kwargs["engine_kwargs"] = {"connect_args": {"timeout": SQLITE_LOCK_WAIT_S}}
            if self.heartbeat:
                kwargs.update(
                    heartbeat_interval=self.heartbeat,
                    grace_period=3 * self.heartbeat,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=2
                    ),
                )
            try:
                self._storage = _open_rdb(self.url, kwargs)
            except ImportError as exc:
                raise LedgerError(
                    f"cannot open the storage {self.display_url!r}: {self._shown(exc)}. For "
                    "PostgreSQL install the extra: pip install 'mmtune[postgres]'"
                ) from None
            except Exception as exc:  # sqlalchemy errors: bad URL, server down
                raise LedgerError(
                    f"cannot open the storage {self.display_url!r}: {self._shown(exc)}"
                ) from None
        return self._storage

    def _shown(self, exc: BaseException) -> str:
        """An exception's text as a message may show it: the URL's password masked."""
        from mmtune.redact import redact_text

        return redact_text(str(exc), self.url)

    # -- studies ---------------------------------------------------------------------------

    def study_names(self) -> list[str]:
        """Names of the studies in the ledger, oldest first."""
        if not self.exists():
            return []
        import optuna

        summaries = optuna.get_all_study_summaries(self.storage(), include_best_trial=False)
        return [s.study_name for s in sorted(summaries, key=lambda s: s._study_id)]

    def latest_study_name(self) -> str:
        """The study with the most recently started trial (or the newest study)."""
        import optuna

        if not self.exists():
            raise LedgerError(f"no ledger in {self.results_dir}/ yet: run `mmtune search` first")
        summaries = optuna.get_all_study_summaries(self.storage(), include_best_trial=False)
        if not summaries:
            raise LedgerError(
                f"the ledger {self.display_url} holds no study: run `mmtune search` first"
            )

        def key(s: optuna.study.StudySummary) -> tuple:
            started = s.datetime_start.timestamp() if s.datetime_start else 0.0
            return (started, s._study_id)

        return max(summaries, key=key).study_name

    def load_study(self, name: str | None) -> tuple[optuna.Study, str, bool]:
        """``(study, name, was_latest)``; ``name=None`` picks the latest study (say so with
        :func:`latest_note`)."""
        import optuna

        was_latest = name is None
        if name is None:
            name = self.latest_study_name()
        if name not in self.study_names():
            known = ", ".join(self.study_names()) or "none"
            raise LedgerError(
                f"no study named {name!r} in {self.display_url}. Known studies: {known}"
            )
        return optuna.load_study(study_name=name, storage=self.storage()), name, was_latest

    def open_search_study(
        self,
        name: str,
        meta: StudyMeta,
        sampler: optuna.samplers.BaseSampler | None = None,
        pruner: optuna.pruners.BasePruner | None = None,
        owner: str = "",
    ) -> optuna.Study:
        """Create the study, or resume it when its space and data are the same.

        A new study's record (space, model, tuner, data) is written by the one search that
        claims it (:class:`mmtune.ledger.claims.Claims`); another started at the same moment
        waits for that record and is compared with it, as a resumed search is: two searches
        of other data never both write theirs into one study. ``owner``: the claimant.
        """
        import time

        import optuna

        from mmtune.ledger.claims import Claims

        study = optuna.create_study(
            study_name=name,
            storage=self.storage(),
            sampler=sampler,
            pruner=pruner,
            direction="maximize",
            load_if_exists=True,
        )
        stored = study.user_attrs
        if not stored:
            if Claims(study, owner or "a search").take(STUDY_META):
                for key, value in meta.as_dict().items():
                    study.set_user_attr(key, value)
                return study
            deadline = time.monotonic() + META_WAIT_S
            while len(stored) < len(meta.as_dict()) and time.monotonic() < deadline:
                time.sleep(0.2)  # the claimant is writing the record now
                stored = optuna.load_study(study_name=name, storage=self.storage()).user_attrs
            if not stored:  # the claimant died before writing it: this search writes it
                for key, value in meta.as_dict().items():
                    study.set_user_attr(key, value)
                return study
        if stored.get(DATA_HASH) != meta.data_hash:
            raise FatalSearchError(
                f"study {name!r} was searched on other data "
                f"(hash {stored.get(DATA_HASH, '?')[:12]}, "
                f"{stored.get(DATA_PATH)}); this data's hash is {meta.data_hash[:12]} "
                f"({meta.data_path}). Resume it on the same data, or name a new study with --study."
            )
        if stored.get(MODEL) != meta.model:
            raise FatalSearchError(
                f"study {name!r} tunes the model {stored.get(MODEL)!r}, not {meta.model!r}: "
                "name a new study with --study."
            )
        if stored.get(TUNER) != meta.tuner:
            raise FatalSearchError(
                f"study {name!r} was run with --tuner {stored.get(TUNER)}, not {meta.tuner}: "
                "resume it with the same tuner, or name a new study with --study."
            )
        return study


def latest_note(name: str) -> str:
    """What a verb says when it picked the latest study for the user."""
    return f"study {name!r} (the latest; --study NAME for another)"


def finished_count(study: optuna.Study) -> int:
    """Trials that count toward ``--trials``
    (:func:`mmtune.ledger.evaluations.counts_toward_trials`)."""
    from mmtune.ledger.evaluations import counts_toward_trials

    return sum(counts_toward_trials(t) for t in study.get_trials(deepcopy=False))


class TrialRecords(Protocol):
    """Where a trial's records go: an Optuna trial, or a :class:`PendingTrial`."""

    @property
    def user_attrs(self) -> dict[str, Any]: ...

    def set_user_attr(self, key: str, value: Any) -> None: ...

    def report(self, value: float, step: int) -> None: ...


class PendingTrial:
    """A trial's records kept until it ends, then added to the study whole. A re-evaluation
    trains outside Optuna's ask and tell (asking would hand it a queued starting point); its
    records are written by the same functions as any trial's."""

    def __init__(self, attrs: dict[str, Any]) -> None:
        self.user_attrs: dict[str, Any] = dict(attrs)
        self.intermediate_values: dict[int, float] = {}

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value

    def report(self, value: float, step: int) -> None:
        self.intermediate_values[step] = value

    def add_to(
        self,
        study: optuna.Study,
        state: optuna.trial.TrialState,
        params: dict[str, Any],
        distributions: dict[str, optuna.distributions.BaseDistribution],
        value: float | None = None,
    ) -> None:
        import optuna

        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=value,
                params=params,
                distributions=distributions,
                user_attrs=self.user_attrs,
                intermediate_values=self.intermediate_values,
            )
        )


def record_epoch(trial: TrialRecords, epoch: int, logs: dict[str, float]) -> None:
    """Append one epoch's logs to the trial's curves and report its validation accuracy.

    Written after every epoch, so a pruned, failed or killed trial keeps its curve.
    """
    attrs = trial.user_attrs
    for log in CURVES:
        if log in logs:
            curve = list(attrs.get(curve_key(log)) or [])
            curve.append(float(logs[log]))
            trial.set_user_attr(curve_key(log), curve)
    trial.set_user_attr(EPOCHS, epoch)
    if "val_accuracy" in logs:
        trial.report(float(logs["val_accuracy"]), epoch)


def record_result(trial: TrialRecords, result: TrialResult) -> None:
    """Store a finished trial's summary (a :class:`mmtune.model.training.TrialResult`)."""
    trial.set_user_attr(BEST_EPOCH, result.best_epoch)
    trial.set_user_attr(BEST_VAL_ACCURACY, result.best_val_accuracy)
    trial.set_user_attr(VAL_LOSS, result.val_loss)
    trial.set_user_attr(EPOCHS, result.epochs)
    trial.set_user_attr(DURATION_S, round(result.duration_s, 3))
    trial.set_user_attr(VALIDATION_S, round(result.validation_s, 3))
    trial.set_user_attr(PARAMS_COUNT, result.params_count)
    for key, value in result_predictions(result).items():
        trial.set_user_attr(key, value)


def record_end(
    trial: TrialRecords, *, failed: bool, reason: str, skipped: bool, duration_s: float
) -> None:
    """Store why a trial did not complete (``fail_reason`` or ``prune_reason``), whether it was
    refused before training (``skipped``: not counted toward ``--trials``), its duration."""
    if reason or failed:
        trial.set_user_attr(FAIL_REASON if failed else PRUNE_REASON, reason[:2000])
    if skipped:
        trial.set_user_attr(SKIPPED, True)
    trial.set_user_attr(DURATION_S, round(duration_s, 3))


def result_predictions(result: TrialResult) -> dict[str, StoredArray]:
    """The validation probabilities a result kept, and their labels, as user attributes
    (none when it kept none)."""
    if result.val_probabilities is None or result.val_labels is None:
        return {}
    return {
        VAL_PROBABILITIES: encode(result.val_probabilities, "float32"),
        VAL_LABELS: encode(result.val_labels, "int16"),
    }


def _in_memory(url: str) -> bool:
    """True for a SQLite URL whose database lives in memory (``sqlite://``, ``sqlite:///``,
    ``sqlite:///:memory:``, ``...?mode=memory``): it is lost when the process exits."""
    import sqlalchemy.engine

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:  # not a URL: opening it says why
        return False
    if not parsed.drivername.startswith("sqlite"):
        return False
    database = parsed.database or ""
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or parsed.query.get("mode") == "memory"
        or "mode=memory" in database
    )


def _open_rdb(url: str, kwargs: dict[str, Any], attempts: int = 6) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage, retried when another process is creating its tables right now.

    Processes opening a ledger no one has created yet (workers started together on an empty
    PostgreSQL database; a search starting while ``mmtune results`` polls its SQLite file)
    each check which tables exist, then create the rest; all but one can then fail
    (``CREATE TYPE ... UniqueViolation``, "table ... already exists", a duplicate
    ``alembic_version`` row). Once the winner has committed, opening again finds the schema
    in place.
    """
    import random
    import time

    import optuna
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except sqlalchemy.exc.DatabaseError as exc:
            if not _lost_a_creation_race(str(exc)) or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)
    raise AssertionError("unreachable")


_CREATION_RACE_MARKS = ("already exists", "UniqueViolation", "UNIQUE constraint failed")


def _lost_a_creation_race(message: str) -> bool:
    """Whether a database error says another process created the same schema first."""
    return any(mark in message for mark in _CREATION_RACE_MARKS)
