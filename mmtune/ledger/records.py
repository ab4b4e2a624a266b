"""What the ledger's records hold, declared once: a trial's attributes, a study's, and the
refit record (``refit.json``). Every module reads and writes them through these names, so a
key renamed here is renamed everywhere (and a misspelt one is an unknown name, not a silently
empty column).

A trial's attributes are Optuna ``user_attrs`` (JSON values); each key below says what it
holds. A study's attributes are :class:`mmtune.ledger.store.StudyMeta`'s. The refit record is
:class:`RefitRecord`, written by :mod:`mmtune.refit.run` and read back by the report.

Nothing here imports Optuna or TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from mmtune.errors import MmtuneError
from mmtune.model.params import ParamValue

__all__ = [
    "CURVES",
    "VAL_ACCURACY_CURVE",
    "EPOCHS",
    "BEST_EPOCH",
    "BEST_VAL_ACCURACY",
    "VAL_LOSS",
    "DURATION_S",
    "VALIDATION_S",
    "PARAMS_COUNT",
    "SEED",
    "TUNER",
    "OWNER",
    "DATA_HASH",
    "DATA_PATH",
    "VAL_ROWS",
    "FAIL_REASON",
    "PRUNE_REASON",
    "SKIPPED",
    "EVALUATES",
    "EVALUATION",
    "BUDGET_EPOCHS",
    "RETRY_OF",
    "KERAS_TUNER_TRIAL",
    "COMPILE_S",
    "PROGRAMS_COMPILED",
    "PROGRAMS_FROM_CACHE",
    "VAL_PROBABILITIES",
    "VAL_LABELS",
    "OPTUNA_RETRIED_TRIAL",
    "SPACE",
    "SPACE_FILE",
    "MODEL",
    "MAX_EPOCHS",
    "RefitMember",
    "RefitRecord",
    "curve_key",
    "read_refit_record",
]

# -- a trial's user attributes ----------------------------------------------------------------

CURVES: Final = ("val_accuracy", "val_loss", "accuracy", "loss")  # per-epoch logs kept


def curve_key(log: str) -> str:
    """The attribute holding the per-epoch curve of ``log`` (one of :data:`CURVES`)."""
    return f"{log}_curve"


VAL_ACCURACY_CURVE: Final = curve_key("val_accuracy")
EPOCHS: Final = "epochs"  # the last epoch run (1-based; a continued trial's counts its parent's)
BEST_EPOCH: Final = "best_epoch"  # the 1-based epoch of the best validation accuracy
BEST_VAL_ACCURACY: Final = "best_val_accuracy"
VAL_LOSS: Final = "val_loss"  # the validation loss at the best epoch
DURATION_S: Final = "duration_s"  # seconds the trial took
VALIDATION_S: Final = "validation_s"  # of which validating
PARAMS_COUNT: Final = "params_count"  # the model's parameters
SEED: Final = "seed"  # the seed it trained with
TUNER: Final = "tuner"  # the tuner that ran it ("re-evaluation" for one of the race)
OWNER: Final = "owner"  # "host:pid:start time" of the process running it
DATA_HASH: Final = "data_hash"  # the data's content hash (also a study attribute)
DATA_PATH: Final = "data_path"  # the data directory (also a study attribute)
VAL_ROWS: Final = "val_rows"  # rows of the validation part
FAIL_REASON: Final = "fail_reason"  # why a failed trial failed
PRUNE_REASON: Final = "prune_reason"  # why a pruned trial was pruned (when it says)
SKIPPED: Final = "skipped"  # refused before training (too large, surplus): not counted
EVALUATES: Final = "evaluates"  # a re-evaluation: the search trial it repeats
EVALUATION: Final = "evaluation"  # a re-evaluation: its index (0: the search trial)
BUDGET_EPOCHS: Final = "budget_epochs"  # run with fewer epochs than the study's (Hyperband)
RETRY_OF: Final = "retry_of"  # the trial whose dead worker this one retries
KERAS_TUNER_TRIAL: Final = "keras_tuner_trial"  # Keras Tuner's id of the trial
COMPILE_S: Final = "compile_s"  # JAX: seconds spent compiling its programs
PROGRAMS_COMPILED: Final = "programs_compiled"  # JAX: programs compiled
PROGRAMS_FROM_CACHE: Final = "programs_from_cache"  # JAX: programs read back from the cache
VAL_PROBABILITIES: Final = "val_probabilities"  # the validation part's class probabilities
VAL_LABELS: Final = "val_labels"  # ... and their labels (mmtune.ledger.val_predictions)
#: Optuna's own system attribute on a retried trial: the number of the one it retries.
OPTUNA_RETRIED_TRIAL: Final = "failed_trial"

# -- a study's user attributes (StudyMeta) ----------------------------------------------------

SPACE: Final = "space"
SPACE_FILE: Final = "space_file"
MODEL: Final = "model"
MAX_EPOCHS: Final = "max_epochs"  # epochs of a full trial
# TUNER, DATA_HASH and DATA_PATH: the same keys as a trial's.

# -- the refit record (refit.json) ------------------------------------------------------------


@dataclass
class RefitMember:
    """One model of a refit: a configuration, its epochs and seed, and what stands behind it."""

    trial: int
    params: dict[str, ParamValue]
    epochs: int
    seed: int
    search_val_accuracy: float | None  # the leaderboard's figure: mean over evaluations
    search_sd: float | None = None
    search_evals: int = 1
    # How far below search_val_accuracy the check's mean may land and hold (its draws known).
    tolerance: float = 0.0
    val_rows: int | None = None  # the validation part's rows the evaluations were scored on
    # The accuracy of the evaluations' averaged probabilities: the seed average's figure.
    search_seed_avg: float | None = None
    # The honest check: its seeds (ones no evaluation used), each draw's accuracy, their mean.
    check_seeds: list[int] = field(default_factory=list)
    check_draws: list[float] = field(default_factory=list)
    check_val_accuracy: float | None = None
    check_holds: bool | None = None
    model_file: str = ""
    duration_s: float = 0.0
    # The honest check's confusion matrix on the validation part (rows: true, columns:
    # predicted), its draws' counts added, for the report; None without a check.
    val_confusion: list[list[int]] | None = None
    val_class_names: list[str] | None = None

    @property
    def name(self) -> str:
        return f"trial {self.trial}, seed {self.seed}"


@dataclass
class RefitRecord:
    """``refit.json``: what a refit trained, checked and wrote (in this key order)."""

    study: str
    model: str
    rule: str
    members: list[RefitMember] = field(default_factory=list)
    rejected_by_check: list[RefitMember] = field(default_factory=list)
    warning: str | None = None
    ensemble: str | None = None
    data_path: str = ""
    data_hash: str = ""
    backend: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    test_rows: int | None = None
    predicted_class_counts: dict[str, int] = field(default_factory=dict)
    duration_s: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RefitRecord:
        """A record read back; keys an older or newer mmtune wrote and this one does not know
        are left out, missing ones take their defaults."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("Expected a JSON object")
        known = _known(cls, raw)
        for key in ("members", "rejected_by_check"):
            known[key] = [RefitMember(**_known(RefitMember, m)) for m in known.get(key) or []]
        return cls(**known)


def _known(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in raw.items() if k in names}


def read_refit_record(path: Path) -> RefitRecord:
    """``refit.json`` at ``path``; a file that cannot be read as one is an error naming it."""
    try:
        return RefitRecord.from_json(path.read_text())
    except (OSError, ValueError, TypeError) as exc:
        raise MmtuneError(f"cannot read the refit record {path}: {exc}") from exc
