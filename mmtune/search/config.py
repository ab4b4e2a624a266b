"""A search's settings, as the command line gives them (no TensorFlow, no Optuna here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mmtune.locations import DEFAULT_RESULTS

if TYPE_CHECKING:
    from mmtune.search.memory import MemoryWatch
    from mmtune.search.spaces import Space

__all__ = [
    "PRUNERS",
    "SearchConfig",
    "SearchOutcome",
]

PRUNERS = ("median", "hyperband", "none")


@dataclass
class SearchConfig:
    """Everything a search needs, as the command line gives it."""

    space: Space
    data_dir: Path
    trials: int = 40
    tuner: str = "tpe"  # a name of mmtune.search.tuners.TUNERS
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


@dataclass
class SearchOutcome:
    study_name: str
    trials_done: int
    best_value: float | None
    best_trial: int | None
    best_evals: int = 0
