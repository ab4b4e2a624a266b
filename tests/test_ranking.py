"""The leaderboard's order of configurations: mean first, then the ties' rule."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from mmtune.ledger.evaluations import configurations
from mmtune.ledger.records import EVALUATES, VAL_LABELS, VAL_PROBABILITIES
from mmtune.ledger.val_predictions import encode

LABELS = np.array([0, 1, 2, 0])
RIGHT = np.eye(3, dtype=np.float32)[LABELS]  # every row right
HALF = np.eye(3, dtype=np.float32)[[0, 1, 1, 1]]  # rows 0 and 1 right


def _add(study: optuna.Study, value: float, probs: np.ndarray, evaluates: int | None) -> None:
    attrs: dict[str, object] = {
        VAL_PROBABILITIES: encode(probs, "float32"),
        VAL_LABELS: encode(LABELS, "int16"),
    }
    if evaluates is not None:
        attrs[EVALUATES] = evaluates
    study.add_trial(optuna.trial.create_trial(value=value, user_attrs=attrs))


def _study(first: list[float], second: list[float], second_probs: np.ndarray) -> optuna.Study:
    """Trial 0 and trial 1, each with three evaluations of the given accuracies; trial 0's
    seed average scores 0.5, trial 1's that of ``second_probs``."""
    study = optuna.create_study(direction="maximize")
    _add(study, first[0], HALF, None)
    _add(study, second[0], second_probs, None)
    for number, values, probs in ((0, first, HALF), (1, second, second_probs)):
        for value in values[1:]:
            _add(study, value, probs, number)
    return study


def test_equal_means_in_another_order_tie_and_the_higher_seed_average_wins():
    first = [0.8, 0.7166666666666667, 0.85]
    second = [0.85, 0.8, 0.7166666666666667]
    study = _study(first, second, RIGHT)
    assert [c.number for c in configurations(study)[:2]] == [1, 0]
    # The same seed averages: the earlier trial.
    study = _study(first, second, HALF)
    assert [c.number for c in configurations(study)[:2]] == [0, 1]


def test_a_higher_mean_wins_over_a_higher_seed_average():
    study = _study([0.8, 0.8, 0.85], [0.8, 0.8, 0.8], RIGHT)
    assert [c.number for c in configurations(study)[:2]] == [0, 1]


def test_a_configurations_unused_seeds_avoid_every_seed_its_evaluations_took():
    """The honest check's seeds are fresh draws: above the seeds of the trial and its
    re-evaluations (failed ones too), shifted by refit's --seed."""
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"seed": 7}))
    study.add_trial(optuna.trial.create_trial(value=0.6, user_attrs={}))  # no seed recorded
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={EVALUATES: 0, "seed": 1007}))
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, user_attrs={EVALUATES: 0, "seed": 2007}
        )
    )
    by_number = {c.number: c for c in configurations(study)}
    assert by_number[0].seeds == [7, 1007, 2007]
    assert by_number[0].unused_seeds(2) == [2008, 2009]
    assert by_number[0].unused_seeds(1, offset=5) == [2013]
    assert by_number[1].unused_seeds(2) == [2, 3], "without seeds: above its number"


def _single(study: optuna.Study, value: float, val_loss: float | None) -> None:
    attrs = {} if val_loss is None else {"val_loss": val_loss}
    study.add_trial(optuna.trial.create_trial(value=value, user_attrs=attrs))


def test_equal_accuracy_on_equal_evidence_goes_to_the_lower_validation_loss():
    """On a saturated set every finalist scores 1.0: the surer network leads the race, not
    the earlier trial (the seed's network, which took four epochs to get there)."""
    study = optuna.create_study(direction="maximize")
    _single(study, 1.0, 0.21)
    _single(study, 1.0, 0.03)
    _single(study, 1.0, None)  # no loss recorded: after those that have one
    _single(study, 0.995, 0.001)  # a lower loss does not beat a higher accuracy
    assert [c.number for c in configurations(study)] == [1, 0, 2, 3]
    assert configurations(study)[0].val_loss == 0.03


def test_more_evaluations_at_the_same_mean_outrank_a_lower_loss():
    study = optuna.create_study(direction="maximize")
    _single(study, 1.0, 0.2)
    _single(study, 1.0, 0.01)
    for _ in range(2):
        study.add_trial(
            optuna.trial.create_trial(value=1.0, user_attrs={EVALUATES: 0, "val_loss": 0.2})
        )
    ranked = configurations(study)
    assert [(c.number, c.n) for c in ranked] == [(0, 3), (1, 1)]
    assert ranked[0].val_loss == pytest.approx(0.2)


@pytest.mark.parametrize(("best_epochs", "refit"), [([1, 6, 4], 6), ([4, 5, 2], 5), ([3], 3)])
def test_refit_trains_for_the_latest_of_the_evaluations_best_epochs(best_epochs, refit):
    """An early best on a small validation part is mostly luck; the median of 1, 6 and 4 (4)
    refit a configuration to 0.813 held-out where 5 and 6 epochs gave 0.900 and 0.873."""
    from mmtune.ledger.records import BEST_EPOCH

    study = optuna.create_study(direction="maximize")
    for i, epoch in enumerate(best_epochs):
        attrs: dict[str, object] = {BEST_EPOCH: epoch, **({EVALUATES: 0} if i else {})}
        study.add_trial(optuna.trial.create_trial(value=0.8, user_attrs=attrs))
    (config,) = configurations(study)
    assert config.best_epochs == best_epochs and config.refit_epochs == refit
