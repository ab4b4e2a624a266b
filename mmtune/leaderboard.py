"""The leaderboard: a study's trials from the ledger, best first, in four formats.

Columns: ``rank, trial, state, val_accuracy, best_epoch, epochs, duration_s,
params`` and then one column per hyperparameter. Completed trials come
first (best validation accuracy first), then pruned, failed and running ones.
A last ``retry_of`` column appears when a trial retries one whose worker died.
Nothing but the ledger is read.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = ["BASE_COLUMNS", "best_accuracy", "best_epoch", "leaderboard_rows", "render", "trial_record", "render_trial"]

BASE_COLUMNS = ("rank", "trial", "state", "val_accuracy", "best_epoch", "epochs", "duration_s",
                "params")
STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}


def best_accuracy(trial: optuna.trial.FrozenTrial) -> float | None:
    """A trial's objective, or for a pruned/failed one the best of its epochs' accuracies."""
    if trial.value is not None:
        return float(trial.value)
    curve = trial.user_attrs.get("val_accuracy_curve") or list(trial.intermediate_values.values())
    finite = [v for v in curve if v is not None and math.isfinite(v)]
    return max(finite) if finite else None


def best_epoch(trial: optuna.trial.FrozenTrial) -> int | None:
    """The 1-based epoch of a trial's best validation accuracy (earliest on ties)."""
    if trial.user_attrs.get("best_epoch"):
        return int(trial.user_attrs["best_epoch"])
    steps = trial.intermediate_values
    if not steps:
        return None
    return min(steps, key=lambda s: (-steps[s], s))


def leaderboard_rows(study: optuna.Study, top: int | None = None) -> list[dict[str, Any]]:
    """One dict per trial, in leaderboard order, with the columns above."""
    trials = study.get_trials(deepcopy=False)
    param_names: list[str] = []
    for t in trials:
        for name in t.params:
            if name not in param_names:
                param_names.append(name)

    any_retry = any(t.user_attrs.get("retry_of") is not None for t in trials)

    def order(t: optuna.trial.FrozenTrial) -> tuple:
        acc = best_accuracy(t)
        return (STATE_ORDER.get(t.state.name, 5), -(acc if acc is not None else -1.0), t.number)

    rows = []
    for rank, t in enumerate(sorted(trials, key=order), start=1):
        attrs = t.user_attrs
        duration = attrs.get("duration_s")
        if duration is None and t.datetime_start and t.datetime_complete:
            duration = (t.datetime_complete - t.datetime_start).total_seconds()
        acc = best_accuracy(t)
        row: dict[str, Any] = {
            "rank": rank,
            "trial": t.number,
            "state": t.state.name,
            "val_accuracy": round(acc, 4) if acc is not None else None,
            "best_epoch": best_epoch(t),
            "epochs": attrs.get("epochs") or len(t.intermediate_values),
            "duration_s": round(float(duration), 1) if duration is not None else None,
            "params": attrs.get("params_count"),
        }
        for name in param_names:
            row[name] = t.params.get(name)
        if any_retry:
            row["retry_of"] = attrs.get("retry_of")
        rows.append(row)
    return rows[:top] if top else rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:g}"
    return str(value)


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
    from mmtune.errors import LedgerError

    matches = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if not matches:
        raise LedgerError(f"study {study.study_name!r} has no trial {number} "
                          f"(it has {len(study.trials)} trials: 0..{len(study.trials) - 1})")
    t = matches[0]
    attrs = {k: v for k, v in t.user_attrs.items() if v is not None}
    curves = {k[: -len("_curve")]: attrs.pop(k) for k in list(attrs) if k.endswith("_curve")}
    acc = best_accuracy(t)
    return {
        "trial": t.number,
        "state": t.state.name,
        "val_accuracy": acc,
        "best_epoch": best_epoch(t),
        "started": t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None,
        "finished": t.datetime_complete.isoformat(timespec="seconds") if t.datetime_complete else None,
        "params": dict(t.params),
        "attrs": attrs,
        "curves": curves,
    }


def render_trial(record: dict[str, Any], fmt: str = "table") -> str:
    """A trial's record for people (``table``/``markdown``) or programs (``json``/``csv``)."""
    curves = record["curves"]
    n = max((len(v) for v in curves.values()), default=0)
    first = int(record["attrs"].get("epochs", n)) - n + 1 if n else 1
    epoch_rows = [{"epoch": first + i, **{k: (round(v[i], 4) if i < len(v) else None)
                                          for k, v in curves.items()}} for i in range(n)]
    if fmt == "json":
        return json.dumps(record, indent=2, default=str)
    if fmt == "csv":
        return render(epoch_rows, "csv") if epoch_rows else "epoch"
    lines = [f"trial {record['trial']}: {record['state']}, val_accuracy "
             f"{_cell(record['val_accuracy'])} at epoch {_cell(record['best_epoch'])}"]
    for key in ("started", "finished"):
        if record.get(key):
            lines.append(f"  {key}: {record[key]}")
    for key, value in record["attrs"].items():
        lines.append(f"  {key}: {_cell(value)}")
    lines.append("parameters:")
    lines += [f"  {k}: {_cell(v)}" for k, v in record["params"].items()]
    lines.append("per-epoch curve:")
    lines.append(render(epoch_rows, fmt) if epoch_rows else "  (no epoch finished)")
    return "\n".join(lines)
