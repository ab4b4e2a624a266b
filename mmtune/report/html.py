"""The study report: one self-contained HTML page with the study's tables and plots.

Everything comes from the ledger (and, after a refit, ``refit.json``). The
plots are Optuna's matplotlib visualizations plus plain matplotlib figures,
embedded as base64 PNG: no external CSS, script or picture, so the page opens
from disk with no server and survives being mailed.

>>> path = write_report(Ledger("results"), study=None)   # doctest: +SKIP

Matplotlib (a core dependency) is imported only when a report is made.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

from mmtune.atomic import atomic_write_text
from mmtune.errors import MmtuneError
from mmtune.ledger.evaluations import configurations, ran, state_rank
from mmtune.ledger.leaderboard import leaderboard_rows
from mmtune.ledger.records import (
    DATA_HASH,
    DATA_PATH,
    EPOCHS,
    MAX_EPOCHS,
    MODEL,
    SPACE,
    SPACE_FILE,
    TUNER,
    VAL_ACCURACY_CURVE,
    RefitMember,
    RefitRecord,
    read_refit_record,
)
from mmtune.ledger.store import Ledger
from mmtune.locations import study_dir

if TYPE_CHECKING:
    import numpy as np
    import optuna
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from optuna.trial import FrozenTrial

__all__ = ["write_report", "render_report", "report_path", "SECTIONS"]

# Section headings, in page order (the refit ones only after a refit).
SECTIONS = (
    "Summary",
    "Leaderboard",
    "Optimization history",
    "Parameter importances",
    "Parameters against validation accuracy",
    "Learning curves",
    "Refit: confusion matrix on the validation part",
    "Refit: honest check",
)
TOP_CURVES = 8  # learning curves drawn in colour; the others in grey
MAX_SLICE_PARAMS = 6


def report_path(results_dir: str | Path, study: str) -> Path:
    """Where the report of ``study`` is written."""
    return study_dir(results_dir, study) / "report" / "report.html"


def write_report(ledger: Ledger, study: str | None = None) -> tuple[Path, str, bool]:
    """Write the report of ``study`` (the latest when None) atomically.

    Returns ``(path, study name, was_latest)``.
    """
    loaded, name, was_latest = ledger.load_study(study)
    path = report_path(ledger.results_dir, name)  # a name that is no folder name: refused
    refit_file = study_dir(ledger.results_dir, name) / "refit" / "refit.json"
    page = render_report(loaded, refit_file if refit_file.is_file() else None)
    atomic_write_text(path, page)
    return path, name, was_latest


def render_report(study: optuna.Study, refit_file: Path | None = None) -> str:
    """The whole HTML page of ``study`` (with the refit sections when ``refit_file``)."""
    from optuna.trial import TrialState

    plt = _pyplot()
    trials = [t for t in study.get_trials(deepcopy=False) if ran(t)]  # no queued starting point
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    page = _Page(f"mmtune report: {study.study_name}")
    # Optuna's plots switch pyplot to ggplot; the context restores the caller's style after.
    with _quiet_optuna(), plt.style.context("ggplot"):
        page.section(SECTIONS[0], _summary(study, trials, complete))
        page.section(SECTIONS[1], _leaderboard(study))
        page.section(SECTIONS[2], _history(study, complete))
        importances = _importances(study, complete)
        page.section(SECTIONS[3], _importance_html(study, importances))
        page.section(SECTIONS[4], _slices(study, complete, importances))
        page.section(SECTIONS[5], _curves(trials, study.user_attrs.get(MAX_EPOCHS)))
        if refit_file is not None:
            record = read_refit_record(refit_file)
            page.section(SECTIONS[6], _confusions(record))
            page.section(SECTIONS[7], _honest_check(record))
    return page.html()


# -- the page ---------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1f2933; background: #f5f7fa; }
header { background: #243b53; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 22px; } header p { margin: 4px 0 0; color: #bcccdc; }
main { padding: 8px 32px 40px; max-width: 1400px; }
section { background: #fff; border-radius: 8px; padding: 12px 20px 16px; margin: 16px 0;
          box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h2 { font-size: 18px; margin: 4px 0 10px; color: #102a43; }
h3 { font-size: 15px; margin: 14px 0 6px; color: #334e68; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 7px; border-bottom: 1px solid #e4e7eb; text-align: right;
         white-space: nowrap; }
th { background: #f0f4f8; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
tr.COMPLETE td.state { color: #2f8132; } tr.PRUNED td.state { color: #b7791f; }
tr.FAIL td.state { color: #c53030; } tr.best { background: #f0fff4; font-weight: 600; }
.scroll { overflow: auto; max-height: 560px; }
.note { color: #627d98; font-style: italic; }
img { max-width: 100%; height: auto; display: block; margin: 6px 0; }
.pair { display: flex; flex-wrap: wrap; gap: 12px; } .pair > div { flex: 1 1 520px; min-width: 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: 3px 16px; margin: 0;
     font-size: 14px; }
dt { color: #627d98; } dd { margin: 0; word-break: break-all; }
"""


@dataclass
class _Page:
    title: str
    parts: list[str] = field(default_factory=list)

    def section(self, heading: str, body: str) -> None:
        anchor = heading.lower().replace(" ", "-").replace(":", "")
        self.parts.append(f'<section id="{anchor}"><h2>{_e(heading)}</h2>\n{body}\n</section>')

    def html(self) -> str:
        made = datetime.now().isoformat(timespec="seconds")
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(self.title)}</title><style>{STYLE}</style></head>\n<body>"
            f"<header><h1>{_e(self.title)}</h1><p>written {made} by mmtune report</p></header>"
            f"<main>\n" + "\n".join(self.parts) + "\n</main></body></html>\n"
        )


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _epochs(n: object) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) < 1e-3 and value != 0:
            return f"{value:.4g}"
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def _table(
    rows: Sequence[Mapping[str, object]],
    text_columns: tuple[str, ...] = (),
    row_class: Callable[[Mapping[str, object]], str] | None = None,
) -> str:
    if not rows:
        return _note("no rows")
    columns = list(rows[0])
    head = "".join(
        f'<th class="{"text" if c in text_columns else ""}">{_e(c)}</th>' for c in columns
    )
    body = []
    for r in rows:
        cls = row_class(r) if row_class else ""
        cells = "".join(
            f'<td class="{c if c == "state" else ""}{" text" if c in text_columns else ""}">'
            f"{_e(_fmt(r.get(c)))}</td>"
            for c in columns
        )
        body.append(f'<tr class="{_e(cls)}">{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(fig: Figure, alt: str) -> str:
    """Embed a matplotlib figure as a base64 PNG and close it."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


# -- plotting set-up --------------------------------------------------------------------------


def _pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend, or a clear error when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MmtuneError(
            "the report needs matplotlib, which is not installed: "
            "pip install 'matplotlib>=3.8' (a dependency of mmtune; reinstall it)"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning (its matplotlib functions) and user warnings."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _ticker() -> ModuleType:
    import matplotlib.ticker

    return matplotlib.ticker


def _readable_log_ticks(ax: Axes) -> None:
    """On a log axis spanning less than a decade, a few plain ticks instead of crowded minor
    labels."""
    if ax.get_xscale() != "log":
        return
    low, high = ax.get_xlim()
    if low > 0 and high / low < 10:
        ticker = _ticker()
        ax.xaxis.set_major_locator(ticker.MaxNLocator(3))
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%.1e"))
    ax.xaxis.set_minor_formatter(_ticker().NullFormatter())


def _figure_of(axes: Axes | np.ndarray) -> Figure:
    """The figure of an Optuna plot's axes (one, or an array of them); a top-level figure."""
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return cast("Figure", first.get_figure())


# -- sections ---------------------------------------------------------------------------------


def _summary(study: optuna.Study, trials: list, complete: list) -> str:
    meta = study.user_attrs
    states = Counter(t.state for t in trials)
    counts = ", ".join(f"{states[s]} {s.name.lower()}" for s in sorted(states, key=state_rank))
    counts = counts or "none"
    items: list[tuple[str, object]] = [
        ("study", study.study_name),
        ("space", meta.get(SPACE)),
        ("space file", meta.get(SPACE_FILE)),
        ("model", meta.get(MODEL)),
        ("tuner", meta.get(TUNER)),
        ("epochs per full trial", meta.get(MAX_EPOCHS)),
        ("data", meta.get(DATA_PATH)),
        ("data hash", meta.get(DATA_HASH)),
        ("trials", f"{len(trials)} ({counts})"),
    ]
    ranked = [c for c in configurations(study) if c.complete]
    if ranked:
        best = ranked[0]
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.trial.params.items())
        spread = f" (sd {_fmt(best.sd)} over {best.n} evaluations)" if best.n > 1 else ""
        seed_average = best.seed_average  # decodes every evaluation's probabilities
        if seed_average is not None:
            spread += f"; their probabilities averaged: {_fmt(seed_average)}"
        items += [
            (
                "best trial",
                f"{best.number}: val_accuracy {_fmt(best.mean)}{spread}, "
                f"refit epochs {best.refit_epochs}",
            ),
            ("best parameters", params),
        ]
    else:
        items.append(("best trial", "none yet: no trial completed"))
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v if v is not None else '')}</dd>" for k, v in items)
    return f"<dl>{rows}</dl>"


def _leaderboard(study: optuna.Study) -> str:
    from optuna.trial import TrialState

    rows = leaderboard_rows(study)
    if not rows:
        return _note("the study has no trials yet")
    best = rows[0]["trial"] if rows[0]["state"] == TrialState.COMPLETE.name else None
    table = _table(
        rows,
        text_columns=("state", "optimizer"),
        row_class=lambda r: f"{r['state']}{' best' if r['trial'] == best else ''}",
    )
    return (
        f"<p>{len(rows)} configurations, best mean first (the columns of "
        "<code>mmtune results</code>: <code>val_accuracy</code> is the mean over "
        "<code>evals</code> evaluations with different seeds, <code>sd</code> their spread, "
        "<code>se</code> the validation part's standard error, <code>seed_avg</code> the "
        "accuracy of their averaged class probabilities: a refit's seed average); pruned and "
        "failed trials after the completed ones.</p>"
        f'<div class="scroll">{table}</div>'
    )


def _history(study: optuna.Study, complete: list) -> str:
    if not complete:
        return _note("no completed trial yet: nothing to plot")
    from optuna.visualization.matplotlib import plot_optimization_history

    plt = _pyplot()
    ax = plot_optimization_history(study, target_name="val_accuracy")
    fig = _figure_of(ax)
    fig.set_size_inches(7, 4.2)
    ax.set_title("Best so far against trial number")
    ax.xaxis.set_major_locator(_ticker().MaxNLocator(integer=True, min_n_ticks=1))
    by_number = _img(fig, "optimization history against trial number")

    start = min(t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start)
    done = sorted((t for t in complete if t.datetime_complete), key=lambda t: t.datetime_complete)
    elapsed = [(t.datetime_complete - start).total_seconds() for t in done]
    scale, unit = (60.0, "minutes") if elapsed and max(elapsed) > 180 else (1.0, "seconds")
    x = [e / scale for e in elapsed]
    values = [t.value for t in done]
    best = [max(values[: i + 1]) for i in range(len(values))]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter(x, values, color="#1f77b4", s=18, label="val_accuracy of a completed trial")
    ax.step(x, best, where="post", color="#d62728", label="best so far")
    ax.set_xlabel(f"wall time since the first trial started ({unit})")
    ax.set_ylabel("val_accuracy")
    ax.set_title("Best so far against wall time")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    by_time = _img(fig, "optimization history against wall time")
    return f'<div class="pair"><div>{by_number}</div><div>{by_time}</div></div>'


def _importances(study: optuna.Study, complete: list) -> dict[str, float] | str:
    """Parameter importances, or the reason there are none."""
    if len(complete) < 2:
        return (
            "parameter importances need at least 2 completed trials; this study has "
            f"{len(complete)}"
        )
    import optuna

    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        return f"parameter importances could not be computed: {exc}"


def _importance_html(study: optuna.Study, importances: dict[str, float] | str) -> str:
    if isinstance(importances, str):
        return _note(importances)
    if not importances:
        return _note("no parameter varied across the completed trials")
    import optuna
    from optuna.visualization.matplotlib import plot_param_importances

    ax = plot_param_importances(
        study,
        evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
        target_name="val_accuracy",
    )
    fig = _figure_of(ax)
    fig.set_size_inches(7, 0.45 * len(importances) + 1.6)
    return (
        "<p>fANOVA importance of each parameter for the validation accuracy of the "
        "completed trials (a rough guide with few trials).</p>" + _img(fig, "parameter importances")
    )


def _slices(study: optuna.Study, complete: list, importances: dict[str, float] | str) -> str:
    if not complete:
        return _note("no completed trial yet: nothing to plot")
    names = list(importances) if isinstance(importances, dict) and importances else []
    names += [n for t in complete for n in t.params if n not in names]
    names = list(dict.fromkeys(names))[:MAX_SLICE_PARAMS]
    if not names:
        return _note("the completed trials have no parameters")
    from optuna.visualization.matplotlib import plot_slice

    parts = []
    rows = math.ceil(len(names) / 3)
    per_row = math.ceil(len(names) / rows)
    for start in range(0, len(names), per_row):
        chunk = names[start : start + per_row]
        axes = plot_slice(study, params=chunk, target_name="val_accuracy")
        fig = _figure_of(axes)
        fig.set_size_inches(4.3 * len(chunk) + 1.2, 3.6)
        fig.suptitle("")
        for ax in fig.axes[: len(chunk)]:
            ax.set_title("")
            _readable_log_ticks(ax)
        parts.append(_img(fig, "val_accuracy against " + ", ".join(chunk)))
    more = (
        f" (the {len(names)} most important)"
        if isinstance(importances, dict) and importances
        else ""
    )
    return (
        f"<p>Validation accuracy of each completed trial against its parameters{more}; "
        "darker dots are later trials.</p>" + "".join(parts)
    )


def _curve_x(t: FrozenTrial, curve: list[float]) -> list[int]:
    last = int(t.user_attrs.get(EPOCHS, len(curve)) or len(curve))
    return list(range(last - len(curve) + 1, last + 1))


def _curves(trials: list[FrozenTrial], max_epochs: int | None) -> str:
    from optuna.trial import TrialState

    with_curve = [t for t in trials if t.user_attrs.get(VAL_ACCURACY_CURVE)]
    if not with_curve:
        return _note("no trial finished an epoch yet: no learning curve to draw")
    plt = _pyplot()
    ranked = sorted(with_curve, key=lambda t: (-max(t.user_attrs[VAL_ACCURACY_CURVE]), t.number))
    top = ranked[:TOP_CURVES]
    fig, ax = plt.subplots(figsize=(11, 5))
    styles = {TrialState.PRUNED: "--", TrialState.FAIL: ":"}
    colours = plt.get_cmap("tab10")
    for t in reversed(ranked[TOP_CURVES:]):
        curve = t.user_attrs[VAL_ACCURACY_CURVE]
        ax.plot(
            _curve_x(t, curve),
            curve,
            linestyle=styles.get(t.state, "-"),
            color="#b0b8c0",
            linewidth=1,
            zorder=1,
        )
        if t.state in styles:
            ax.plot(_curve_x(t, curve)[-1], curve[-1], "x", color="#8a959f", zorder=1)
    for i, t in enumerate(top):
        curve = t.user_attrs[VAL_ACCURACY_CURVE]
        x = _curve_x(t, curve)
        state = t.state
        label = f"trial {t.number}" + (
            "" if state == TrialState.COMPLETE else f" ({state.name.lower()})"
        )
        ax.plot(
            x,
            curve,
            linestyle=styles.get(state, "-"),
            marker="o",
            markersize=3,
            color=colours(i % 10),
            linewidth=1.8,
            label=label,
            zorder=3,
        )
        if state in styles:
            ax.plot(
                x[-1],
                curve[-1],
                "x",
                color=colours(i % 10),
                markersize=11,
                markeredgewidth=2.5,
                zorder=4,
            )
    if max_epochs:
        ax.axvline(
            int(max_epochs),
            color="#555",
            linewidth=0.8,
            linestyle="-.",
            zorder=0,
            label=f"full trial ({_epochs(int(max_epochs))})",
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("val_accuracy")
    ax.set_title(
        f"Validation accuracy per epoch: the top {len(top)} trials in colour, "
        "the others in grey; dashed and x = pruned (cut short), dotted = failed",
        fontsize=10,
    )
    last = max(max(_curve_x(t, t.user_attrs[VAL_ACCURACY_CURVE])) for t in with_curve)
    ax.set_xlim(0.5, max(last, int(max_epochs or 0)) + 0.5)
    ax.xaxis.set_major_locator(_ticker().MaxNLocator(integer=True, min_n_ticks=1))
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    pruned = sum(t.state == TrialState.PRUNED for t in with_curve)
    return (
        f"<p>{len(with_curve)} trials with at least one epoch, {pruned} of them pruned.</p>"
        + _img(fig, "learning curves")
    )


# -- refit sections ---------------------------------------------------------------------------


def _confusions(record: RefitRecord) -> str:
    members = [m for m in record.members if m.val_confusion]
    if not members:
        return _note(
            "the refit has no honest check with a confusion matrix (refit with the "
            "check, and a newer mmtune, to see it)"
        )
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _pyplot()
    parts = [
        "<p>The honest check's model (the refit's configuration and epochs, trained on the "
        "training part only) on the validation part: rows are the true classes, columns "
        "the predicted ones.</p>"
    ]
    for m in members:
        counts = np.asarray(m.val_confusion, dtype=int)
        names = m.val_class_names or [str(i) for i in range(len(counts))]
        side = max(4.5, 0.75 * len(names) + 2.5)
        fig, ax = plt.subplots(figsize=(side, side))
        ConfusionMatrixDisplay(counts, display_labels=names).plot(
            ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45, values_format="d"
        )
        ax.grid(False)
        ax.set_title(f"{m.name}: validation part")
        fig.tight_layout()
        rows_total = counts.sum(axis=1)
        per_class = [
            {
                "class": name,
                "rows": int(n),
                "correct": int(counts[i, i]),
                "accuracy": f"{counts[i, i] / n:.3f}" if n else None,
            }
            for i, (name, n) in enumerate(zip(names, rows_total))
        ]
        total = int(counts.sum())
        overall = np.trace(counts) / total if total else float("nan")
        parts.append(
            f"<h3>{_e(m.name)}: accuracy {_fmt(float(overall))} on "
            f"{total} validation rows</h3>"
            f'<div class="pair"><div>{_img(fig, "confusion matrix " + m.name)}</div>'
            f"<div><p>Per-class accuracy (recall):</p>"
            f"{_table(per_class, text_columns=('class',))}</div></div>"
        )
    return "".join(parts)


def _check_row(m: RefitMember) -> dict[str, object]:
    """A member's row of the honest check's table."""
    search, check = m.search_val_accuracy, m.check_val_accuracy
    return {
        "member": m.name,
        "epochs": m.epochs,
        "search val_accuracy": search,
        "search sd": m.search_sd,
        "evaluations": m.search_evals,
        "search seed_avg": m.search_seed_avg,
        "check val_accuracy": check,
        "check draws": ", ".join(
            f"{_fmt(a)} (seed {seed})" for a, seed in zip(m.check_draws, m.check_seeds)
        ),
        "holds": "" if m.check_holds is None else ("yes" if m.check_holds else "NO"),
        "check - search": (
            round(check - search, 4) if check is not None and search is not None else None
        ),
        "model file": m.model_file,
        "duration_s": m.duration_s,
    }


def _honest_check(record: RefitRecord) -> str:
    rows = [_check_row(m) for m in record.members]
    facts = [
        ("rule", record.rule),
        ("members", len(record.members)),
        (
            "rejected by the check",
            ", ".join(
                f"trial {m.trial} ({_fmt(m.check_val_accuracy)} vs {_fmt(m.search_val_accuracy)})"
                for m in record.rejected_by_check
            )
            or "none",
        ),
        ("warning", record.warning or "none"),
        ("ensemble", record.ensemble or "no (one model)"),
        ("test rows", record.test_rows),
        (
            "predicted classes (test)",
            ", ".join(f"{k} {v}" for k, v in record.predicted_class_counts.items()),
        ),
        ("refit time", f"{'?' if record.duration_s is None else record.duration_s} s"),
    ]
    head = "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>"
    table = _table(rows, text_columns=("member", "model file", "holds", "check draws"))
    checked = [m for m in record.members if m.check_val_accuracy is not None]
    if not checked:
        return (
            head + "<h3>Members</h3>" + table + _note("refitted with --no-check: no honest check")
        )
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(checked) + 2.5), 3.8))
    x = np.arange(len(checked))
    search = [m.search_val_accuracy or 0.0 for m in checked]
    check = [m.check_val_accuracy or 0.0 for m in checked]
    ax.bar(x - 0.2, search, 0.4, label="leaderboard (mean of evaluations)", color="#7f9cbf")
    ax.bar(x + 0.2, check, 0.4, label="honest check (same epochs, training part)", color="#e07b39")
    for i, (s, c) in enumerate(zip(search, check)):
        ax.text(i - 0.2, s, f"{s:.3f}", ha="center", va="bottom", fontsize=8)
        ax.text(i + 0.2, c, f"{c:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [f"{m.name}\n{_epochs(m.epochs)}" for m in checked], fontsize=8)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("val_accuracy")
    ax.set_title("Honest check against the search")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), fontsize=8, ncols=2)
    return (
        head
        + "<h3>Members</h3>"
        + table
        + f'<div style="max-width: 640px">{_img(fig, "honest check against the search")}</div>'
    )
