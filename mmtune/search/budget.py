"""When a search has searched enough: ``--trials`` counted trials, or ``--epoch-budget`` epochs
spent (every epoch its trials trained, re-evaluations included:
:func:`mmtune.ledger.evaluations.epochs_spent`). Both backends, the workers' wait and the
finalists' race ask here. (Not in :mod:`mmtune.search.config`: the command line imports that
module, and this one reads the study through Optuna.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmtune.ledger.evaluations import epochs_spent
from mmtune.ledger.store import finished_count

if TYPE_CHECKING:
    import optuna

    from mmtune.search.config import SearchConfig

__all__ = ["budget_said", "budget_spent", "searched_enough"]


def budget_spent(cfg: SearchConfig, study: optuna.Study) -> bool:
    """True once the study's trials have trained ``cfg.epoch_budget`` epochs in all; never
    without a budget."""
    if cfg.epoch_budget is None:
        return False
    return epochs_spent(study.get_trials(deepcopy=False)) >= cfg.epoch_budget


def searched_enough(cfg: SearchConfig, study: optuna.Study) -> bool:
    """True once the study holds ``cfg.trials`` counted trials or has spent its epoch budget:
    no search trial is to start, and the finalists' race may run."""
    return finished_count(study) >= cfg.trials or budget_spent(cfg, study)


def budget_said(cfg: SearchConfig, study: optuna.Study) -> str:
    """``", 52 of --epoch-budget 50 epochs"``: the budget's state, when there is one."""
    if cfg.epoch_budget is None:
        return ""
    spent = epochs_spent(study.get_trials(deepcopy=False))
    return f", {spent} of --epoch-budget {cfg.epoch_budget} epochs"
