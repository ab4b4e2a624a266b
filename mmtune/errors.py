"""The errors mmtune raises, split by what the caller should do next.

``MmtuneError`` and its subclasses are a user's mistake or a stop the user must
hear about: the command line prints their message (no traceback) and exits
non-zero. ``TrialFailed`` is different: it fails one trial, which is recorded
in the ledger, and the search goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MmtuneError",
    "DataError",
    "Problem",
    "SpaceError",
    "LedgerError",
    "FatalSearchError",
    "TrialFailed",
    "ModelTooLarge",
    "shown",
]

SHOWN_LIMIT = 80  # characters of a user's value that a message echoes


def shown(
    value: object, limit: int | None = SHOWN_LIMIT, *, keep_end: bool = False, quoted: bool = True
) -> str:
    """A value as a message or a terminal shows it: cut to about ``limit`` characters (None:
    whole), and never with a control character in it.

    A message echoes what it received, and what it received may be a 10 MB CSV cell or a
    YAML value: only its start is shown, with its full length. ``keep_end`` shows the end
    instead: a long path's file name. ``quoted`` (the default) shows ``repr(value)``;
    ``quoted=False`` the text itself (a column or class name in a table, a study name, a
    line of a message), each character that is not printable escaped as ``repr`` escapes it:
    an escape sequence in a CSV header or a class name never reaches the terminal raw.

    >>> shown("x" * 1000).endswith("... (1,000 characters)")
    True
    >>> shown("/deep" * 30 + "/space.yaml", keep_end=True).endswith("/space.yaml' (161 characters)")
    True
    >>> print(shown("mfcc_1\\x1b[2J", quoted=False))
    mfcc_1\\x1b[2J
    """
    if not quoted:
        text = _printable(str(value))
        if limit is not None and len(text) > limit:
            return f"{text[:limit]}... ({len(text):,} characters)"
        return text
    if limit is None:
        return repr(value)
    if isinstance(value, str) and len(value) > limit:
        if keep_end:
            return f"...{value[-limit:]!r} ({len(value):,} characters)"
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _printable(text: str) -> str:
    """``text`` with every character that is not printable (control characters, escape
    sequences' ESC, bidirectional overrides, line breaks) escaped as ``repr`` writes it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class MmtuneError(Exception):
    """A problem the user must fix; printed without a traceback, exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem found in a data set, located by file, row and column.

    ``row`` is the 0-based data row (the submission's ``id``); the CSV line a
    text editor shows is ``row + 2`` (the header is line 1). ``kind`` names what a
    picture's problem is (``decode``, ``size``, ``mode``), where it matters.
    """

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    severity: str = "error"  # "error" refuses the data, "warning" only reports
    kind: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row} (line {self.row + 2})")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}"


class DataError(MmtuneError):
    """The data set breaks the data contract; carries every problem found."""

    def __init__(self, problems: list[Problem], data_dir: str = "") -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        head = f"the data in {data_dir} is not usable" if data_dir else "the data is not usable"
        lines = [f"{head}: {len(errors)} problem(s)"]
        lines += [f"  {p}" for p in errors[:50]]
        if len(errors) > 50:
            lines.append(f"  ... and {len(errors) - 50} more")
        super().__init__("\n".join(lines))


class SpaceError(MmtuneError):
    """A search space file is malformed; the message names the file and the key."""


class LedgerError(MmtuneError):
    """The ledger (Optuna storage) cannot serve the request: no such study, trial or storage."""


class FatalSearchError(MmtuneError):
    """The search must stop (too many failures in a row, a data change on resume)."""


class TrialFailed(Exception):
    """One trial failed (NaN loss, out of memory, a crash); record it and go on."""


class ModelTooLarge(TrialFailed):
    """A configuration's model exceeds ``--max-params`` or ``--max-cost``: skipped untrained."""


class OverMemoryCeiling(ModelTooLarge):
    """Training the model would take the process past ``--max-memory-mb``: skipped untrained
    (a fresh process, holding less, might fit it). ``need`` says what it needs and what the
    process held, without the verdict; ``need_mb`` is the training's own need in MB."""

    def __init__(self, need: str, need_mb: float = 0.0) -> None:
        super().__init__(f"{need}: skipped untrained")
        self.need = need
        self.need_mb = need_mb
