"""The finalists' race: which configuration a search evaluates again, and when it stops."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from mmtune.ledger.evaluations import Configuration, configurations
from mmtune.ledger.records import EVALUATES, SKIPPED
from mmtune.search.reevaluate import (
    expected_loss,
    next_evaluation,
    race_spread,
    race_summary,
    seed_spread,
)


def _study(*configs: list[float], val_rows: int | None = 100) -> optuna.Study:
    """Trial i evaluated with the accuracies ``configs[i]`` (the first its search trial's)."""
    study = optuna.create_study(direction="maximize")
    attrs = {"val_rows": val_rows} if val_rows else {}
    for values in configs:
        study.add_trial(optuna.trial.create_trial(value=values[0], user_attrs=attrs))
    for number, values in enumerate(configs):
        for value in values[1:]:
            study.add_trial(
                optuna.trial.create_trial(value=value, user_attrs={**attrs, EVALUATES: number})
            )
    return study


def _next(study: optuna.Study, finalists: int = 3, repeats: int = 3) -> int | None:
    config = next_evaluation(study, finalists, repeats)
    return None if config is None else config.number


def test_the_leader_is_evaluated_first_until_it_has_its_repeats():
    assert _next(_study([0.70], [0.80], [0.75])) == 1
    # Two evaluations 8 points apart (sd 0.057, above the se of 0.043 at 0.76 on 100 rows).
    assert _next(_study([0.70], [0.80, 0.72], [0.75])) == 1


def test_a_leader_whose_two_evaluations_agree_needs_no_third_unless_a_challenger_is_close():
    """0.80 and 0.82 on 100 rows: a spread of 0.014, under the rows' own standard error
    (0.039). A third seed would move the mean by less than a row is worth; the race asks
    for it only while a challenger is worth a run against the leader."""
    assert _next(_study([0.70], [0.80, 0.82], [0.75])) is None  # 6 points below: 0.1 row
    assert _next(_study([0.70], [0.80, 0.82], [0.81])) == 1  # level: the leader's third first
    assert _next(_study([0.70], [0.80, 0.82, 0.81], [0.81])) == 2  # then the challenger
    assert _next(_study([0.80, 0.82]), repeats=2) is None


def _ranked(study: optuna.Study) -> list[Configuration]:
    return [c for c in configurations(study) if c.complete]


def test_the_expected_loss_is_that_of_a_normal_difference():
    """E[max(0, d)], d ~ N(gap, s^2), s = spread * sqrt(1/n_c + 1/n_leader): s * pdf(0) when
    level, the gap itself when there is no swing, next to nothing far below."""
    leader, level, below = _ranked(_study([0.80, 0.80], [0.80], [0.60]))
    s = 0.03 * (1 / 1 + 1 / 2) ** 0.5
    assert expected_loss(level, leader, 0.03) == pytest.approx(s * 0.3989423, rel=1e-6)
    assert expected_loss(below, leader, 0.0) == 0.0
    assert expected_loss(leader, below, 0.0) == pytest.approx(0.20)
    assert expected_loss(below, leader, 0.03) < 1e-9
    # Monte Carlo of the same expectation agrees.
    draws = np.random.default_rng(0).normal(-0.01, s, 200_000)
    close = _ranked(_study([0.80, 0.80], [0.79]))[1]
    assert expected_loss(close, leader, 0.03) == pytest.approx(
        np.maximum(draws, 0).mean(), rel=0.02
    )


def test_a_challenger_races_while_it_may_cost_a_validation_row_far_below_it_does_not():
    leader = [0.80, 0.76, 0.84]  # mean 0.80, sd 0.04; the swing: 0.04 (the se at 0.80 too)
    assert _next(_study(leader, [0.79])) == 1  # expected loss 0.014 >= one row of 100
    assert _next(_study(leader, [0.70])) is None  # 0.0002: decided
    # Best first: the closer challenger, whatever its trial number.
    assert _next(_study(leader, [0.785], [0.795])) == 2


def test_a_challengers_evaluations_narrow_what_is_at_stake():
    leader = [0.80, 0.72, 0.88]  # sd 0.08
    assert _next(_study(leader, [0.77])) == 1  # expected loss 0.017
    # Two evaluations, mean 0.77 (sd 0.0): the pooled sd, sqrt((2 * 0.08**2) / 3), shrunk
    # toward the se, is 0.057; the mean's swing narrows with sqrt(2): 0.009, under a row.
    assert _next(_study(leader, [0.77, 0.77])) is None
    ranked = _ranked(_study(leader, [0.77, 0.77]))
    assert seed_spread(ranked) == pytest.approx((2 * 0.08**2 / 3) ** 0.5)


def test_a_gap_under_one_validation_row_is_not_worth_an_evaluation():
    """With no swing measured, all that separates a perfect leader from a challenger one
    picture below is that picture's worth of luck: not worth another run."""
    perfect = [1.0, 1.0, 1.0]
    assert _next(_study(perfect, [0.99], val_rows=90)) is None
    # Three runs that agree need no 4th (settled); three that swing get it.
    assert _next(_study(perfect, [0.99], val_rows=90), repeats=4) is None
    assert _next(_study([1.0, 0.9, 1.0], [0.9], val_rows=90), repeats=4) == 0


def test_a_spread_measured_near_zero_by_chance_does_not_decide_the_race():
    """Three runs at 0.950, 0.950, 0.955 on 200 rows (sd 0.003; the next two seeds drew 0.885
    and 0.945 in a benchmark): the swing the race uses is shrunk toward the se, so what a
    challenger one run at 0.945 stands to win is 0.0024, not the raw spread's 0.0000."""
    study = _study([0.95, 0.95, 0.955], [0.945], val_rows=200)
    ranked = _ranked(study)
    assert seed_spread(ranked) == pytest.approx(0.0029, abs=1e-4)
    assert 0.010 < race_spread(ranked, ranked[0]) < 0.012  # toward the se, 0.0152
    leader, challenger = ranked
    assert expected_loss(challenger, leader, seed_spread(ranked)) < 1e-4
    moderated = expected_loss(challenger, leader, race_spread(ranked, leader))
    assert moderated == pytest.approx(0.0024, abs=1e-4)
    # On 400 rows (one row: 0.0025) a challenger level with the leader is worth a run by the
    # moderated swing (0.0037) and would not be by the raw one (0.0013).
    level = _study([0.95, 0.95, 0.955], [0.95], val_rows=400)
    assert _next(level) == 1
    leader, challenger = _ranked(level)
    assert expected_loss(challenger, leader, seed_spread([leader, challenger])) < 0.0025


def test_the_prior_weighs_as_two_evaluations_against_the_measured_spread():
    runs = [0.80, 0.80, 0.81, 0.79, 0.80, 0.80, 0.80, 0.81, 0.79]  # 8 dof
    ranked = _ranked(_study(runs, val_rows=100))
    sd, se = seed_spread(ranked), ranked[0].se_val
    assert se == pytest.approx(0.04)
    assert race_spread(ranked, ranked[0]) == pytest.approx(((8 * sd**2 + 2 * se**2) / 10) ** 0.5)
    assert sd < race_spread(ranked, ranked[0]) < 0.5 * se  # 8 measured dof outweigh 2 of prior


def test_only_the_top_finalists_race_and_none_past_its_repeats():
    leader = [0.80, 0.70, 0.90]  # sd 0.10: trial 2 (0.74) may cost a row, trial 3 is 4th
    study = _study(leader, [0.75, 0.70, 0.80], [0.74], [0.73])
    assert _next(study, finalists=3) == 2
    assert _next(study, finalists=2) is None  # trial 1 has its 3, trial 2 is not a finalist


def test_a_decided_race_says_who_leads_and_who_stopped_short():
    study = _study([0.80, 0.78, 0.82], [0.70], [0.60])
    line = race_summary(study, finalists=3, repeats=3)
    assert line is not None
    assert "trial 0 leads with 0.8000 over 3 evaluations" in line
    # The swing: sd 0.02 over 2 dof shrunk toward the standard error at 0.80 on 100 rows
    # (0.04) weighted as 2 dof: sqrt((2 * 0.02**2 + 2 * 0.04**2) / 4) = 0.0316.
    assert "1 (0.7000 over 1), 2 (0.6000 over 1)" in line and "swing 0.0316)" in line
    assert race_summary(_study([0.80, 0.78, 0.82], [0.70]), finalists=1, repeats=3) is None


def test_a_reevaluation_refused_untrained_stays_out_of_the_mean_and_is_not_asked_again():
    """A re-evaluation no process here could hold (--max-memory-mb) is refused before training:
    it says nothing of the configuration, so its mean stays that of its runs, where a
    diverged one counts as 0; and the race does not ask for it again and again."""
    study = _study([0.80, 0.80])
    for skipped in (True, False):  # one refused untrained, one diverged
        attrs = {EVALUATES: 0, SKIPPED: True} if skipped else {EVALUATES: 0}
        study.add_trial(
            optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=attrs)
        )
    leader = configurations(study)[0]
    assert (len(leader.refused), len(leader.failed)) == (1, 1)
    assert leader.values == [0.80, 0.80, 0.0] and leader.attempts == 4
    refused_only = _study([0.80, 0.80])
    refused_only.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, user_attrs={EVALUATES: 0, SKIPPED: True}
        )
    )
    assert configurations(refused_only)[0].mean == pytest.approx(0.80)
    assert _next(refused_only) is None, "3 attempts: the leader is done"
