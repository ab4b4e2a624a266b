"""The leaderboard: a study's configurations from the ledger, best first, in four formats.

Columns: ``rank, trial, state, val_accuracy, sd, evals, se, seed_avg, best_epoch,
epochs, duration_s, params`` and then one column per hyperparameter. ``val_accuracy``
is the mean over a configuration's evaluations (the search trial and its
re-evaluations with other seeds, :mod:`mmtune.ledger.evaluations`), ``sd`` their
seed-to-seed standard deviation, ``evals`` how many there are, ``se`` the
standard error the validation part's size alone implies, and ``seed_avg`` the
accuracy of the evaluations' averaged class probabilities: the figure of the seed
average a refit writes (:mod:`mmtune.ledger.val_predictions`; blank below two
evaluations). Completed
configurations come first (best mean first), then pruned, failed and running
ones; among completed ones, those trained on the study's whole epoch budget come
before Hyperband's early rungs (a ``budget_epochs`` column shows each trial's
budget when a study has such trials). A last ``retry_of`` column appears when a
trial retries one whose worker died. Nothing but the ledger is read.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from mmtune.errors import shown
from mmtune.ledger.evaluations import best_epoch, configurations, ran, trial_value
from mmtune.ledger.records import (
    BUDGET_EPOCHS,
    CURVES,
    DURATION_S,
    EPOCHS,
    EVALUATES,
    PARAMS_COUNT,
    RETRY_OF,
    SEED,
    curve_key,
)
from mmtune.ledger.val_predictions import describe

if TYPE_CHECKING:
    import optuna

__all__ = ["BASE_COLUMNS", "leaderboard_rows", "render", "trial_record", "render_trial"]

BASE_COLUMNS = (
    "rank",
    "trial",
    "state",
    "val_accuracy",
    "sd",
    "evals",
    "se",
    "seed_avg",
    "best_epoch",
    "epochs",
    "duration_s",
    "params",
)


def _round(value: float | None, digits: int = 4) -> float | None:
    return round(value, digits) if value is not None else None


def leaderboard_rows(study: optuna.Study, top: int | None = None) -> list[dict[str, Any]]:
    """One dict per configuration, in leaderboard order, with the columns above (trials that
    never ran, queued starting points, are in none)."""
    trials = [t for t in study.get_trials(deepcopy=False) if ran(t)]
    param_names: list[str] = []
    for t in trials:
        for name in t.params:
            if name not in param_names:
                param_names.append(name)
    any_retry = any(t.user_attrs.get(RETRY_OF) is not None for t in trials)
    any_budget = any(t.user_attrs.get(BUDGET_EPOCHS) for t in trials)

    rows = []
    for rank, config in enumerate(configurations(study), start=1):
        t = config.trial
        attrs = t.user_attrs
        duration = attrs.get(DURATION_S)
        if duration is None and t.datetime_start and t.datetime_complete:
            duration = (t.datetime_complete - t.datetime_start).total_seconds()
        row: dict[str, Any] = {
            "rank": rank,
            "trial": t.number,
            "state": t.state.name,
            "val_accuracy": _round(config.mean),
            "sd": _round(config.sd),
            "evals": config.n or None,
            "se": _round(config.se_val),
            "seed_avg": _round(config.seed_average),
            "best_epoch": config.refit_epochs if config.complete else best_epoch(t),
            "epochs": attrs.get(EPOCHS) or len(t.intermediate_values),
            "duration_s": round(float(duration), 1) if duration is not None else None,
            "params": attrs.get(PARAMS_COUNT),
        }
        for name in param_names:
            row[name] = t.params.get(name)
        if any_budget:  # Hyperband: the epoch budget the trial was given (its fidelity)
            row["budget_epochs"] = attrs.get(BUDGET_EPOCHS)
        if any_retry:
            row["retry_of"] = attrs.get(RETRY_OF)
        rows.append(row)
    return rows[:top] if top else rows


def _cell(value: object) -> str:
    """A value as a table shows it (on a terminal: never a control character)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:g}"
    return shown(value, None, quoted=False)


def render(rows: list[dict[str, Any]], fmt: str = "table") -> str:
    """Render rows as ``table`` (aligned text), ``csv``, ``markdown`` or ``json``."""
    columns = list(rows[0]) if rows else list(BASE_COLUMNS)
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
        return out.getvalue().rstrip("\n")
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def trial_record(study: optuna.Study, number: int) -> dict[str, Any]:
    """One trial's whole record: state, parameters, summary and per-epoch curves."""
    from optuna.trial import TrialState

    from mmtune.errors import LedgerError

    trials = [t for t in study.get_trials(deepcopy=False) if ran(t)]
    matches = [t for t in trials if t.number == number]
    if not matches:
        known = f"0..{max(t.number for t in trials)}" if trials else "none"
        raise LedgerError(
            f"study {study.study_name!r} has no trial {number} that ran "
            f"(it has {len(trials)} trials: {known})"
        )
    t = matches[0]
    attrs = {k: v for k, v in t.user_attrs.items() if v is not None}
    curves = {log: attrs.pop(curve_key(log)) for log in CURVES if curve_key(log) in attrs}
    evaluations = [
        {
            "trial": e.number,
            "seed": e.user_attrs.get(SEED),
            "val_accuracy": trial_value(e),
            "best_epoch": best_epoch(e),
        }
        for e in study.get_trials(deepcopy=False)
        if e.user_attrs.get(EVALUATES) == t.number and e.state == TrialState.COMPLETE
    ]
    if evaluations:
        attrs["re-evaluations"] = ", ".join(
            f"#{e['trial']} seed {e['seed']}: {_cell(_round(e['val_accuracy']))} "
            f"(epoch {e['best_epoch']})"
            for e in evaluations
        )
    return {
        "trial": t.number,
        "state": t.state.name,
        "val_accuracy": trial_value(t),
        "best_epoch": best_epoch(t),
        "started": t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None,
        "finished": t.datetime_complete.isoformat(timespec="seconds")
        if t.datetime_complete
        else None,
        "params": dict(t.params),
        "attrs": attrs,
        "curves": curves,
    }


def render_trial(record: dict[str, Any], fmt: str = "table") -> str:
    """A trial's record for people (``table``/``markdown``) or programs (``json``/``csv``)."""
    curves = record["curves"]
    n = max((len(v) for v in curves.values()), default=0)
    first = int(record["attrs"].get(EPOCHS, n)) - n + 1 if n else 1
    epoch_rows = [
        {
            "epoch": first + i,
            **{k: (round(v[i], 4) if i < len(v) else None) for k, v in curves.items()},
        }
        for i in range(n)
    ]
    if fmt == "json":
        return json.dumps(record, indent=2, default=str)
    if fmt == "csv":
        return render(epoch_rows, "csv") if epoch_rows else "epoch"
    lines = [
        f"trial {record['trial']}: {record['state']}, val_accuracy "
        f"{_cell(record['val_accuracy'])} at epoch {_cell(record['best_epoch'])}"
    ]
    for key in ("started", "finished"):
        if record.get(key):
            lines.append(f"  {key}: {record[key]}")
    for key, value in record["attrs"].items():
        lines.append(f"  {key}: {describe(value) or _cell(value)}")
    lines.append("parameters:")
    lines += [f"  {k}: {_cell(v)}" for k, v in record["params"].items()]
    lines.append("per-epoch curve:")
    lines.append(render(epoch_rows, fmt) if epoch_rows else "  (no epoch finished)")
    return "\n".join(lines)
