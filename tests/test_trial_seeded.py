"""The search's sampler, seeded per trial: a restart does not change what the search draws."""

from __future__ import annotations

import optuna
import pytest

from mmtune.search.backends.optuna_backend import study_options
from mmtune.search.config import SearchConfig
from mmtune.search.space_files import load_space


def _objective(trial: optuna.Trial) -> float:
    """A cheap stand-in for a training: the space's parameters in, a deterministic score out."""
    space = load_space("direct_mix")
    params = space.suggest_optuna(trial)
    return -abs(float(params["learning_rate"]) - 0.003) - 0.01 * abs(int(params["conv_blocks"]) - 2)


def _study(storage: str, name: str, cfg: SearchConfig, resumed: int = 0) -> optuna.Study:
    options = study_options(cfg, resumed)
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        load_if_exists=True,
        sampler=options["sampler"],
        pruner=options["pruner"],
    )


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_search_restarted_midway_draws_what_an_unbroken_one_draws(tmp_path):
    """Past TPE's random start-up trials too: 10 trials in one process, against 4, a
    restart (a new process's sampler on the same ledger), then 6."""
    storage = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    cfg = SearchConfig(space=load_space("direct_mix"), data_dir=tmp_path, seed=3)
    unbroken = _study(storage, "unbroken", cfg)
    unbroken.optimize(_objective, n_trials=10)
    _study(storage, "restarted", cfg).optimize(_objective, n_trials=4)
    _study(storage, "restarted", cfg, resumed=4).optimize(_objective, n_trials=6)
    restarted = optuna.load_study(study_name="restarted", storage=storage)
    assert [t.params for t in restarted.trials] == [t.params for t in unbroken.trials]
    assert len({str(t.params) for t in unbroken.trials}) == 10, "every trial its own draw"
    other = _study(
        storage, "another-seed", SearchConfig(space=cfg.space, data_dir=tmp_path, seed=4)
    )
    other.optimize(_objective, n_trials=2)
    assert other.trials[0].params != unbroken.trials[0].params, "--seed changes the draws"
