"""The tuner backends, each behind :class:`Backend`: Optuna's samplers (``optuna_backend``)
and Keras Tuner's oracles (``keras_tuner_backend``); which tuner runs on which is
:mod:`mmtune.search.tuners`' table.

A backend is a module with two functions: the sampler and pruner of the ledger study it
records into, and the loop that runs trials until the study holds ``--trials``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mmtune.search.tuners import tuner_named

if TYPE_CHECKING:
    import optuna

    from mmtune.data.trial_data import DataSource
    from mmtune.ledger.store import StudyOptions
    from mmtune.model.training import TrainOptions
    from mmtune.search.config import SearchConfig
    from mmtune.search.progress import SearchProgress
    from mmtune.search.trial import FailureStreak

__all__ = ["Backend", "SearchRun", "backend_for"]


@dataclass(frozen=True)
class SearchRun:
    """What a backend's trials share: the ledger study, the search's settings, its data, its
    progress line, its failure streak and the trainer's options."""

    study: optuna.Study
    cfg: SearchConfig
    source: DataSource
    progress: SearchProgress
    streak: FailureStreak
    options: TrainOptions


class Backend(Protocol):
    """What a tuner backend module provides."""

    def study_options(self, cfg: SearchConfig, resumed_trials: int = 0) -> StudyOptions:
        """``sampler`` and ``pruner`` for the ledger study."""
        ...

    def run(self, search: SearchRun) -> None:
        """Run trials until the study holds ``search.cfg.trials`` counted trials."""
        ...


def backend_for(tuner: str) -> Backend:
    """The backend module of ``tuner`` (imported only when a search runs); an unknown name
    is an error (:func:`mmtune.search.tuners.tuner_named`)."""
    name = tuner_named(tuner).backend
    module: Backend = importlib.import_module(f"mmtune.search.backends.{name}")
    return module
