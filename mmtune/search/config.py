"""A search's settings, as the command line gives them (no TensorFlow, no Optuna here).

Each ``mmtune search`` flag is declared once, in the command line's parser, with its default
read from :class:`SearchConfig`; the config is made from the parsed flags by
:meth:`SearchConfig.from_args` (a flag fills the field of its name, or the one
:data:`FLAG_FIELDS` names), and a worker's command line is made from the same parser
(:func:`mmtune.cli.command_line`), so a new flag reaches both without another edit.
"""

from __future__ import annotations

import argparse
import dataclasses
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmtune.locations import DEFAULT_RESULTS
from mmtune.search import tuners

if TYPE_CHECKING:
    from mmtune.search.memory import MemoryWatch
    from mmtune.search.spaces import Space

__all__ = [
    "COMMAND_LINE_ONLY",
    "FLAG_FIELDS",
    "PRUNERS",
    "SearchConfig",
    "SearchOutcome",
]

PRUNERS = ("median", "hyperband", "none")


def _zero_is_none(value: float | None) -> float | None:
    return value or None  # 0: no limit


#: Flags that fill a field of another name, or whose value the config takes otherwise; every
#: other flag of ``mmtune search`` fills the field of its own name.
FLAG_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "results": ("results_dir", Path),
    "no_portfolio": ("portfolio", operator.not_),
    "max_params": ("max_params", _zero_is_none),
    "max_cost": ("max_cost", _zero_is_none),
    "epoch_budget": ("epoch_budget", _zero_is_none),
}
#: The process's own limits: taken from a command line only when it is this process's own
#: (``args.own_process``: the search may re-exec itself); 0 is none.
COMMAND_LINE_ONLY = ("recycle_mb", "max_memory_mb")
#: What the parsed command line holds besides settings: the verb's plumbing, and the space
#: and data, which :meth:`SearchConfig.from_args` is given checked.
_NOT_SETTINGS = ("verb", "handler", "own_process", "space", "data")


@dataclass
class SearchConfig:
    """Everything a search needs, as the command line gives it."""

    space: Space
    data_dir: Path
    trials: int = 40
    epoch_budget: int | None = None  # the epochs of the whole search, race included
    tuner: str = tuners.names()[0]  # a name of mmtune.search.tuners.TUNERS
    pruner: str = "median"
    max_epochs: int | None = None
    study: str | None = None
    results_dir: Path = Path(DEFAULT_RESULTS)
    storage: str | None = None
    seed: int = 0
    tensorboard: bool = False
    max_failures: int = 5
    max_skips: int = 20  # configurations refused untrained in a row before the search stops
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
    recycle_mb: int | None = None  # re-exec after this much growth (command line only)
    max_memory_mb: int | None = None  # re-exec before a trial could pass this (command line only)
    warm_start: str | None = None  # an earlier study whose best configurations a new one tries
    portfolio: bool = True  # a new study tries the space's portfolio after the seed's network

    @classmethod
    def from_args(cls, args: argparse.Namespace, space: Space, data_dir: Path) -> SearchConfig:
        """The settings of a parsed ``mmtune search`` command line. A flag that fills no
        field is an error here, not a setting silently dropped."""
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for flag, value in vars(args).items():
            if flag in _NOT_SETTINGS:
                continue
            name, convert = FLAG_FIELDS.get(flag, (flag, _same))
            if name not in names:
                raise TypeError(
                    f"the search flag {flag!r} fills no SearchConfig field: add the field, "
                    "or say in FLAG_FIELDS which one it fills"
                )
            if name in COMMAND_LINE_ONLY:
                value = (value or None) if getattr(args, "own_process", False) else None
            values[name] = convert(value)
        return cls(space=space, data_dir=data_dir, **values)

    @classmethod
    def default(cls, name: str) -> Any:
        """A field's default: the command line's default of its flag."""
        return next(f.default for f in dataclasses.fields(cls) if f.name == name)

    @property
    def study_name(self) -> str:
        return self.study or self.space.name

    @property
    def epochs(self) -> int:
        return int(self.max_epochs or self.space.max_epochs)

    def memory_watch(self) -> MemoryWatch:
        """A watch on this process's memory over its trials, with this search's limits."""
        from mmtune.search.memory import MemoryWatch

        return MemoryWatch(self.recycle_mb, self.max_memory_mb)


def _same(value: Any) -> Any:
    return value


@dataclass
class SearchOutcome:
    study_name: str
    trials_done: int
    best_value: float | None
    best_trial: int | None
    best_evals: int = 0
