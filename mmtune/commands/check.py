"""``mmtune data check``: validate a data directory and print its summary.

Every CSV and picture problem is raised as one :class:`~mmtune.errors.DataError`
(the command line prints it, exit code 2); usable data prints a summary and
its warnings, exit code 0. The check builds (or reuses) the picture cache, so
a later search starts from it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from mmtune.commands.common import resolve_data_dir
from mmtune.errors import shown

if TYPE_CHECKING:
    from mmtune.data.cache import CachedData
    from mmtune.errors import Problem

__all__ = ["check", "format_summary"]

_MAX_WARNINGS = 50


def check(args: argparse.Namespace) -> int:
    """Run the check for the parsed ``data check`` arguments."""
    from mmtune.data.cache import load_data

    data_dir = resolve_data_dir(args.data)
    data = load_data(data_dir, resolution=args.resolution, strict=args.strict)
    warnings = [str(w) for w in data.warnings] + [
        f"{p} (a search refuses this data)" for p in _split_problems(data)
    ]
    print(format_summary(data.summary, warnings))
    return 0


def _split_problems(data: CachedData) -> list[Problem]:
    """What the search's training/validation split would refuse in ``data``."""
    from mmtune.data.pipeline import stratified_split
    from mmtune.data.trial_data import SPLIT_SEED, VAL_FRACTION, split_problems

    train_idx, val_idx = stratified_split(data.train_labels, VAL_FRACTION, SPLIT_SEED)
    return split_problems(data.train_labels, data.spec.class_names, train_idx, val_idx)


def format_summary(summary: dict[str, Any], warnings: list[str]) -> str:
    """The human-readable summary of a checked data set."""
    lines = [f"data: {summary['data_dir']}"]
    width = max(len(name) for name in summary["rows"])
    for name, rows in summary["rows"].items():
        lines.append(f"  {name:<{width}}  {rows:>7,} rows")
    classes = summary["classes"]
    total = sum(c["rows"] for c in classes) or 1
    lines.append(f"classes ({len(classes)}):")
    name_width = max((len(c["name"]) for c in classes), default=4)
    for c in classes:
        lines.append(
            f"  {c['index']:>3}  {c['name']:<{name_width}}  {c['rows']:>7,}"
            f"  ({100 * c['rows'] / total:4.1f}%)"
        )
    sizes = ", ".join(f"{size}: {n:,}" for size, n in summary["picture_sizes"].items())
    modes = ", ".join(f"{mode}: {n:,}" for mode, n in summary["picture_modes"].items())
    lines.append(f"pictures (width x height): {sizes}")
    lines.append(f"picture modes: {modes}")
    m = summary["mfcc"]
    lines.append(
        f"MFCC: {m['columns']} columns ({m['names']}), values in "
        f"[{m['min']:.4g}, {m['max']:.4g}], mean {m['mean']:.4g}, std {m['std']:.4g}"
    )
    cache = summary["cache"]
    r = summary["resolution"]
    how = "reused" if cache["hit"] else f"built in {cache['build_seconds']:.1f} s"
    size = f", {cache['bytes'] / 1e6:.1f} MB" if cache.get("bytes") else ""
    if cache.get("in_memory"):
        lines.append(
            f"picture cache at {r}x{r}: none (decoded into memory in "
            f"{cache['build_seconds']:.1f} s: {cache['path']} cannot be written)"
        )
    else:
        lines.append(f"picture cache at {r}x{r}: {how} ({cache['path']}{size})")
    lines.append(f"data hash: {summary['data_hash']}")
    if warnings:
        lines.append(f"warnings ({len(warnings)}):")
        lines += [f"  {w}" for w in warnings[:_MAX_WARNINGS]]
        if len(warnings) > _MAX_WARNINGS:
            lines.append(f"  ... and {len(warnings) - _MAX_WARNINGS} more")
    lines.append("the data is usable")
    # Class and column names, picture names in warnings: echoed without control characters.
    return "\n".join(shown(line, None, quoted=False) for line in lines)
