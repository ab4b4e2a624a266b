"""The search's progress display: trial n of N, epoch, accuracy, best so far, elapsed, ETA.

On a terminal one status line is redrawn in place after every epoch; when the
output is not a terminal (CI logs, files) only one plain line per finished
trial is written.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from mmtune.errors import shown

if TYPE_CHECKING:
    from optuna.trial import TrialState

__all__ = ["SearchProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75`` -> ``'1m15s'``; ``3700`` -> ``'1h01m'``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class SearchProgress:
    """Tracks the search and writes its status to ``stream`` (stderr by default)."""

    def __init__(
        self,
        total: int,
        done: int,
        max_epochs: int,
        stream: TextIO | None = None,
        live: bool | None = None,
        best: tuple[float, int] | None = None,
        spent_s: float = 0.0,
    ) -> None:
        """``done``, ``best`` (value, trial) and ``spent_s`` (seconds the study's counted
        trials took) come from the ledger, so a resumed or recycled search shows the study's
        best and pace, not this process's."""
        self.total = total
        self.done_at_start = done
        self.spent_at_start = spent_s
        self.done = done
        self.max_epochs = max_epochs
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self.best: float | None = best[0] if best else None
        self.best_trial: int | None = best[1] if best else None
        self.trial: int | None = None
        self._line_open = False

    def _eta(self) -> str:
        if self.done <= 0:
            return "?"
        spent = self.spent_at_start + time.monotonic() - self.started
        per_trial = spent / self.done
        return format_duration(per_trial * max(0, self.total - self.done))

    def _status(self, epoch: int, acc: float | None) -> str:
        best = f"{self.best:.4f} (#{self.best_trial})" if self.best is not None else "-"
        acc_text = f"{acc:.4f}" if acc is not None else "-"
        return (
            f"trial {self.done + 1}/{self.total} (#{self.trial}) epoch {epoch}/{self.max_epochs} "
            f"val_acc {acc_text} | best {best} | {format_duration(time.monotonic() - self.started)}"
            f" elapsed, ETA {self._eta()}"
        )

    def trial_started(self, number: int) -> None:
        self.trial = number
        if self.live:
            self._redraw(self._status(0, None))

    def epoch_done(self, epoch: int, val_accuracy: float | None) -> None:
        if self.live:
            self._redraw(self._status(epoch, val_accuracy))

    def trial_done(
        self,
        number: int,
        state: TrialState,
        val_accuracy: float | None,
        epochs: int,
        duration_s: float,
        note: str = "",
        *,
        skipped: bool = False,
    ) -> None:
        """``skipped``: the trial was refused before training (recorded as pruned)."""
        from optuna.trial import TrialState

        if state in (TrialState.COMPLETE, TrialState.PRUNED) and not skipped:  # nor FAIL
            self.done += 1
        if (
            val_accuracy is not None
            and val_accuracy == val_accuracy
            and (self.best is None or val_accuracy > self.best)
        ):
            self.best, self.best_trial = val_accuracy, number
        acc = (
            f"{val_accuracy:.4f}"
            if val_accuracy is not None and val_accuracy == val_accuracy
            else "-"
        )
        best = f"{self.best:.4f} (#{self.best_trial})" if self.best is not None else "-"
        label = "SKIPPED" if skipped else state.name
        line = (
            f"trial #{number:<3d} {label:<8s} val_acc {acc}  epochs {epochs:<2d} "
            f"{duration_s:6.1f}s | {self.done}/{self.total} done, best {best}, "
            f"ETA {self._eta()}" + (f" | {shown(note, None, quoted=False)}" if note else "")
        )
        self._clear()
        print(line, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        self._clear()
        print(
            "\n".join(shown(line, None, quoted=False) for line in text.split("\n")),
            file=self.stream,
            flush=True,
        )

    def _redraw(self, text: str) -> None:
        self.stream.write("\r\033[K" + text)
        self.stream.flush()
        self._line_open = True

    def _clear(self) -> None:
        if self._line_open:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._line_open = False
