"""`mmtune search --epoch-budget`: a search sized by the epochs it trains, for both tuner
families, and the one rule that counts a trial's epochs."""

from __future__ import annotations

import optuna
import pytest
from searchkit import search_argv, tiny_data, tiny_space

from mmtune.cli import main
from mmtune.ledger.evaluations import counts_toward_trials, epochs_spent, epochs_trained
from mmtune.ledger.records import EPOCHS, curve_key
from mmtune.ledger.store import Ledger


def _trial(epochs: int, curve: list[float]) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        value=max(curve) if curve else 0.0,
        user_attrs={EPOCHS: epochs, curve_key("val_accuracy"): curve, curve_key("loss"): curve},
    )


def test_a_continued_trial_counts_only_the_epochs_it_trained():
    """A Hyperband continuation's ``epochs`` counts its parent's; its curves hold its own."""
    parent, child = _trial(2, [0.5, 0.6]), _trial(6, [0.7, 0.8, 0.8, 0.9])
    assert epochs_trained(parent) == 2 and epochs_trained(child) == 4
    assert epochs_spent([parent, child]) == 6
    assert epochs_trained(_trial(0, [])) == 0


@pytest.mark.parametrize("tuner", ["tpe", "random"])
def test_the_search_stops_at_the_trial_that_crosses_its_epoch_budget(tmp_path, tuner, capsys):
    space = tiny_space(tmp_path)
    space.write_text(space.read_text().replace("max_epochs: 1", "max_epochs: 2"))
    results = tmp_path / "results"
    args = [
        *search_argv(space, tiny_data(tmp_path / "data"), results),
        "--tuner",
        tuner,
        "--trials",
        "10",
        "--epoch-budget",
        "3",
        "--patience",
        "0",
        "--finalists",
        "0",
    ]
    assert main(args) == 0
    trials = Ledger(results).load_study("tiny")[0].get_trials()
    trained = [t for t in trials if epochs_trained(t)]
    assert 0 < sum(counts_toward_trials(t) for t in trials) < 10
    assert epochs_spent(trained) >= 3, "stopped before the budget was spent"
    assert epochs_spent(trained[:-1]) < 3, "a trial started after the budget was spent"
    assert "--epoch-budget 3 spent" in capsys.readouterr().err

    # Resumed with the same budget: nothing to run; with a larger one, it goes on.
    assert main(args) == 0
    assert len(Ledger(results).load_study("tiny")[0].get_trials()) == len(trials)
    assert "already holds" in capsys.readouterr().err
    assert main([*args[:-5], "6", *args[-4:]]) == 0
    again = Ledger(results).load_study("tiny")[0].get_trials()
    assert len(again) > len(trials) and epochs_spent(again) >= 6


@pytest.mark.parametrize("tuner", ["tpe", "random"])
def test_the_finalists_race_trains_within_the_epoch_budget(tmp_path, tuner, capsys):
    """The budget is the whole search's: the search trials leave one evaluation's epochs to
    the race, which runs until decided or until the budget is spent (the evaluation that
    crosses it finishes), never a dozen evaluations past it."""
    from mmtune.ledger.evaluations import is_reevaluation
    from mmtune.search.reevaluate import next_evaluation

    space = tiny_space(tmp_path)
    space.write_text(space.read_text().replace("max_epochs: 1", "max_epochs: 2"))
    results = tmp_path / "results"
    args = [
        *search_argv(space, tiny_data(tmp_path / "data"), results),
        *("--tuner", tuner, "--trials", "10", "--epoch-budget", "7", "--patience", "0"),
        *("--finalists", "3", "--repeats", "5", "--no-portfolio"),
    ]
    assert main(args) == 0
    trials = Ledger(results).load_study("tiny")[0].get_trials()
    search = [t for t in trials if not is_reevaluation(t) and epochs_trained(t)]
    race = [t for t in trials if is_reevaluation(t)]
    assert epochs_spent(search) >= 7 - 2, "the search trials spent their share"
    assert epochs_spent(search[:-1]) < 7 - 2, "a trial started after its share was spent"
    assert race, "one leader's evaluation is left to the race"
    assert epochs_spent(trials) < 7 + 2, "an evaluation started after the budget was spent"
    err = capsys.readouterr().err
    assert "the search trials' share (5 epochs) spent" in err, err
    study = Ledger(results).load_study("tiny")[0]
    if next_evaluation(study, 3, 5) is not None:  # (on this data, so far: always)
        assert "finalists' race stopped undecided: --epoch-budget 7 spent" in err, err
