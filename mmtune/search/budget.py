"""When a search has searched enough: ``--trials`` counted trials, or ``--epoch-budget`` epochs
spent (every epoch its trials trained, re-evaluations included:
:func:`mmtune.ledger.evaluations.epochs_spent`). Both backends, the workers' wait and the
finalists' race ask here. (Not in :mod:`mmtune.search.config`: the command line imports that
module, and this one reads the study through Optuna.)

An epoch budget is the whole search's, its finalists' race included: a user who gives 100
epochs gets about 100, not 100 and then a race of up to a dozen more evaluations. The search
trials stop starting when the budget less :func:`race_reserve` is spent (the trial that crosses
it finishes), which leaves the race at least one evaluation of the leader; the race then runs
until it is decided or the whole budget is spent (the evaluation that crosses it finishes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmtune.ledger.evaluations import epochs_spent
from mmtune.ledger.store import finished_count

if TYPE_CHECKING:
    import optuna

    from mmtune.search.config import SearchConfig

__all__ = [
    "budget_said",
    "budget_spent",
    "race_budget_spent",
    "race_reserve",
    "search_share_said",
    "searched_enough",
]


def race_reserve(cfg: SearchConfig) -> int:
    """Epochs of ``cfg.epoch_budget`` the search trials leave to the finalists' race: one
    evaluation of the leader (``cfg.epochs``), at most half the budget; none without a budget
    or a race (``--finalists 0`` or ``--repeats 1``)."""
    if cfg.epoch_budget is None or cfg.finalists < 1 or cfg.repeats < 2:
        return 0
    return min(cfg.epochs, cfg.epoch_budget // 2)


def _spent(study: optuna.Study) -> int:
    return epochs_spent(study.get_trials(deepcopy=False))


def budget_spent(cfg: SearchConfig, study: optuna.Study) -> bool:
    """True once the study's trials have trained the search trials' share of
    ``cfg.epoch_budget`` (the budget less :func:`race_reserve`): no search trial is to start.
    Never without a budget."""
    if cfg.epoch_budget is None:
        return False
    return _spent(study) >= cfg.epoch_budget - race_reserve(cfg)


def race_budget_spent(cfg: SearchConfig, study: optuna.Study) -> bool:
    """True once the study's trials, re-evaluations included, have trained the whole
    ``cfg.epoch_budget``: no re-evaluation is to start. Never without a budget."""
    if cfg.epoch_budget is None:
        return False
    return _spent(study) >= cfg.epoch_budget


def searched_enough(cfg: SearchConfig, study: optuna.Study) -> bool:
    """True once the study holds ``cfg.trials`` counted trials or has spent the search
    trials' share of its epoch budget: no search trial is to start, and the finalists' race
    may run."""
    return finished_count(study) >= cfg.trials or budget_spent(cfg, study)


def budget_said(cfg: SearchConfig, study: optuna.Study) -> str:
    """``", 52 of --epoch-budget 50 epochs"``: the budget's state, when there is one."""
    if cfg.epoch_budget is None:
        return ""
    return f", {_spent(study)} of --epoch-budget {cfg.epoch_budget} epochs"


def search_share_said(cfg: SearchConfig, study: optuna.Study) -> str:
    """The line that says the search trials stopped for the budget, and what is left to the
    race (when there is one)."""
    trials = finished_count(study)
    reserve = race_reserve(cfg)
    spent = budget_said(cfg, study)
    if cfg.epoch_budget is None or not reserve:
        return f"--epoch-budget {cfg.epoch_budget} spent{spent} after {trials} trials"
    return (
        f"--epoch-budget {cfg.epoch_budget}: the search trials' share "
        f"({cfg.epoch_budget - reserve} epochs) spent{spent} after {trials} "
        "trials; the finalists' race may train the rest"
    )
