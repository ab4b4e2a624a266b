"""A sampler seeded anew for every trial, from the trial's number.

A search process restarts when it grows (:mod:`mmtune.search.memory`), and
how much memory it holds differs from run to run. A sampler seeded once per
process then drew a different stream after each restart, so two runs of the
same command parted at their first restart. Seeded per trial, what a trial
draws depends only on the study (its earlier trials) and the trial's number:
the same command on the same data walks the same path, restarts or not, and
workers sharing a study draw different points (their trials' numbers differ).

Imports Optuna at import time: import it where a search runs, not from the
command line's start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

__all__ = ["TrialSeededSampler"]


class TrialSeededSampler(BaseSampler):
    """Delegates each trial to ``make(seed + trial.number)``, a sampler made for it alone."""

    def __init__(self, make: Callable[[int], BaseSampler], seed: int) -> None:
        self._make = make
        self._seed = seed
        self._samplers: dict[int, BaseSampler] = {}

    def _for(self, trial: FrozenTrial) -> BaseSampler:
        sampler = self._samplers.get(trial.number)
        if sampler is None:
            sampler = self._samplers[trial.number] = self._make(self._seed + trial.number)
        return sampler

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._for(trial).after_trial(study, trial, state, values)
        self._samplers.pop(trial.number, None)

    def reseed_rng(self) -> None:
        """Nothing to reseed: every trial's sampler is seeded from its number."""
