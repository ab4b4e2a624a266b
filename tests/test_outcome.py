"""One rule from an exception inside a trial to its outcome, for every backend and the race."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from mmtune import errors
from mmtune.search.trial import Outcome, outcome_of


class _Memory:
    """A MemoryWatch's answers: whether a fresh process may hold a refused configuration."""

    def __init__(self, fresh_may_hold: bool) -> None:
        self.fresh_may_hold = fresh_may_hold
        self.untrained_calls = 0

    def refusal_reason(self, need: str, need_mb: float) -> tuple[bool, str]:
        return self.fresh_may_hold, f"{need}: {'retried' if self.fresh_may_hold else 'skipped'}"

    def untrained(self) -> None:
        self.untrained_calls += 1


@pytest.mark.parametrize(
    "exc, expected",
    [
        (optuna.TrialPruned("pruned after epoch 2"), Outcome(False, "")),
        (
            errors.ModelTooLarge("2.0M parameters > 1M"),
            Outcome(False, "2.0M parameters > 1M", True),
        ),
        (errors.TrialFailed("NaN loss at epoch 3"), Outcome(True, "NaN loss at epoch 3")),
        (errors.MmtuneError("too many blocks"), Outcome(True, "too many blocks")),
        (ValueError("boom"), Outcome(True, "ValueError: boom")),
        (KeyboardInterrupt(), Outcome(True, "interrupted (Ctrl-C)", stops=True)),
        (
            errors.DataError([], "d"),
            Outcome(True, "DataError: the data in d is not usable: 0 problem(s)", stops=True),
        ),
        (errors.FatalSearchError("streak"), Outcome(True, "FatalSearchError: streak", stops=True)),
    ],
)
def test_each_exception_has_one_outcome(exc, expected):
    memory = _Memory(fresh_may_hold=False)
    assert outcome_of(exc, memory) == expected
    assert memory.untrained_calls == int(expected.refused)


@pytest.mark.parametrize("fresh_may_hold", [True, False])
def test_a_memory_refusal_is_retried_only_where_a_fresh_process_may_hold_it(fresh_may_hold):
    memory = _Memory(fresh_may_hold)
    outcome = outcome_of(
        errors.OverMemoryCeiling("needs 900 MB, holds 800 of 1,000", 900.0), memory
    )
    assert outcome.refused and not outcome.failed and memory.untrained_calls == 1
    assert outcome.retry == ("needs 900 MB, holds 800 of 1,000" if fresh_may_hold else "")
    assert outcome.reason.endswith("retried" if fresh_may_hold else "skipped")


def test_a_refused_search_trial_is_pruned_and_a_refused_reevaluation_failed():
    refused = Outcome(False, "over --max-params", refused=True)
    assert refused.state() == TrialState.PRUNED
    assert refused.state(reevaluation=True) == TrialState.FAIL
    assert Outcome(True, "NaN").state() == TrialState.FAIL
