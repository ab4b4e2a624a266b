"""Configurations and their evaluations: what a leaderboard figure stands on.

A search trial evaluates one configuration once (one seed). Re-evaluations
(:mod:`mmtune.search.reevaluate`) train the same configuration again with other
seeds and land in the ledger as trials of their own, marked with the user
attribute ``evaluates`` = the number of the search trial they repeat. Here the
ledger's trials are grouped back into configurations, each with the mean,
spread and count of its evaluations, the accuracy of their averaged class
probabilities (the seed average a refit writes) and the standard error that the
validation part's size alone implies; the leaderboard, refit and the report
rank by that mean.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mmtune.ledger.records import (
    BEST_EPOCH,
    BUDGET_EPOCHS,
    EVALUATES,
    MAX_EPOCHS,
    SEED,
    SKIPPED,
    VAL_ACCURACY_CURVE,
    VAL_LOSS,
    VAL_ROWS,
    curve_key,
)
from mmtune.ledger.val_predictions import seed_average_accuracy

if TYPE_CHECKING:
    import optuna

__all__ = [
    "MEAN_DIGITS",
    "REFIT_EPOCHS_RULE",
    "Configuration",
    "best_epoch",
    "binomial_se",
    "check_tolerance",
    "configurations",
    "counts_toward_trials",
    "epochs_trained",
    "epochs_spent",
    "evaluation_seed",
    "is_reevaluation",
    "ran",
    "state_rank",
    "trial_value",
]

MEAN_DIGITS = 9  # means that agree to this many decimals are a tie

#: :attr:`Configuration.refit_epochs` in words, as ``refit.json`` and the report state it.
REFIT_EPOCHS_RULE = (
    "epochs = the latest best epoch (validation accuracy peak) of the configuration's "
    "evaluations, unscaled"
)


def binomial_se(accuracy: float, rows: int) -> float:
    """The standard error of an accuracy measured on ``rows`` rows; at 0 or 1 it is floored
    at one row's worth."""
    return math.sqrt(max(accuracy * (1 - accuracy), 1 / rows) / rows)


def check_tolerance(
    mean: float, n: int, sd: float | None, val_rows: int | None, draws: Sequence[float]
) -> float:
    """How far below a configuration's leaderboard mean (``n`` evaluations, spread ``sd``)
    the mean of ``draws``, fresh trainings scored on the same validation rows, may land and
    still count as the same result: twice the standard error of the difference of the two
    means (one evaluation's spread times sqrt(1/n + 1/k) for k draws), and at least 2 points.

    One evaluation's spread is the larger of the evaluations' sd and the validation standard
    error at the accuracy of the evaluations and the draws together, not at the leaderboard's
    figure alone: the leaderboard's best is the luckiest of many, and near 1 its own figure
    understates the binomial error (on the demo's 90 validation rows, 0.016 at 0.978 against
    0.020 at 0.961). With two evaluations that happen to agree, sd 0 says nothing of the
    spread either."""
    k = len(draws)
    if k == 0 or n < 1:
        raise ValueError(f"a check tolerance needs draws and evaluations (k={k}, n={n})")
    pooled = (n * mean + sum(draws)) / (n + k)
    spread = max(sd or 0.0, binomial_se(pooled, val_rows) if val_rows else 0.0)
    return max(2 * spread * math.sqrt(1 / n + 1 / k), 0.02)


def evaluation_seed(base_seed: int, trial_number: int, index: int) -> int:
    """The seed of a configuration's ``index``-th evaluation (0: the search trial's own,
    ``base_seed + trial_number``); :meth:`Configuration.unused_seeds` are the seeds none of
    them took."""
    return base_seed + trial_number + 1000 * index


def is_reevaluation(trial: optuna.trial.FrozenTrial) -> bool:
    """True for a trial that re-evaluates another trial's configuration."""
    return trial.user_attrs.get(EVALUATES) is not None


def ran(trial: optuna.trial.FrozenTrial) -> bool:
    """False for a trial queued that never started (WAITING: a starting point a finished
    search did not need). It stays in the study, so that a search resumed with more
    ``--trials`` runs it, but out of every view: leaderboard, record, report."""
    from optuna.trial import TrialState

    return trial.state != TrialState.WAITING


def epochs_trained(trial: optuna.trial.FrozenTrial) -> int:
    """The epochs ``trial`` itself trained: one entry of its curves per epoch run. A Hyperband
    continuation's ``epochs`` counts its parent's too; its curves hold only its own epochs,
    so nothing is counted twice. A killed or failed trial's epochs were spent, and count."""
    attrs = trial.user_attrs
    return max(len(attrs.get(VAL_ACCURACY_CURVE) or ()), len(attrs.get(curve_key("loss")) or ()))


def epochs_spent(trials: Iterable[optuna.trial.FrozenTrial]) -> int:
    """What ``trials`` cost, in epochs: every epoch each trained (re-evaluations included).
    The one measure of a search's compute that ``--epoch-budget`` and the benchmarks use."""
    return sum(epochs_trained(t) for t in trials)


def counts_toward_trials(trial: optuna.trial.FrozenTrial) -> bool:
    """True for a search trial that trained and finished (completed or pruned): what
    ``--trials`` counts. Failures are retried, configurations refused before training are
    information for the sampler, and re-evaluations repeat a configuration."""
    from optuna.trial import TrialState  # not at import: the command line starts without Optuna

    return (
        trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
        and not is_reevaluation(trial)
        and not trial.user_attrs.get(SKIPPED)
    )


def state_rank(state: optuna.trial.TrialState) -> int:
    """Where trials of ``state`` stand in a listing: completed, pruned, failed, running,
    waiting, then any other."""
    from optuna.trial import TrialState

    order = (
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.FAIL,
        TrialState.RUNNING,
        TrialState.WAITING,
    )
    return order.index(state) if state in order else len(order)


def trial_value(trial: optuna.trial.FrozenTrial) -> float | None:
    """A trial's objective, or for a pruned/failed one the best of its epochs' accuracies."""
    if trial.value is not None:
        return float(trial.value)
    curve = trial.user_attrs.get(VAL_ACCURACY_CURVE) or list(trial.intermediate_values.values())
    finite = [v for v in curve if v is not None and math.isfinite(v)]
    return max(finite) if finite else None


def best_epoch(trial: optuna.trial.FrozenTrial) -> int | None:
    """The 1-based epoch of a trial's best validation accuracy (earliest on ties)."""
    if trial.user_attrs.get(BEST_EPOCH):
        return int(trial.user_attrs[BEST_EPOCH])
    steps = trial.intermediate_values
    if not steps:
        return None
    return min(steps, key=lambda s: (-steps[s], s))


@dataclass
class Configuration:
    """A search trial's configuration with every completed evaluation of it (itself first)."""

    trial: optuna.trial.FrozenTrial
    evaluations: list[optuna.trial.FrozenTrial] = field(default_factory=list)
    failed: list[optuna.trial.FrozenTrial] = field(default_factory=list)  # failed re-evaluations
    # Re-evaluations refused before training (for this process's memory, not for anything the
    # configuration did): no accuracy, so not in the mean.
    refused: list[optuna.trial.FrozenTrial] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def values(self) -> list[float]:
        """Each evaluation's accuracy; a failed re-evaluation counts as 0."""
        done = [v for v in (trial_value(t) for t in self.evaluations) if v is not None]
        return done + [0.0] * len(self.failed)

    @property
    def n(self) -> int:
        """Evaluations behind the mean."""
        return len(self.values)

    @property
    def attempts(self) -> int:
        """Evaluations tried: those behind the mean and those refused before training."""
        return self.n + len(self.refused)

    @property
    def mean(self) -> float | None:
        values = self.values
        return statistics.fmean(values) if values else trial_value(self.trial)

    @property
    def sd(self) -> float | None:
        """Seed-to-seed standard deviation (None with fewer than two evaluations)."""
        values = self.values
        return statistics.stdev(values) if len(values) >= 2 else None

    @property
    def seed_average(self) -> float | None:
        """Accuracy of the evaluations' class probabilities averaged (each evaluation at its
        best epoch): what a refit's seed average is expected to score on the validation
        part; None with fewer than two evaluations that kept their probabilities."""
        return seed_average_accuracy(self.evaluations)

    @property
    def val_loss(self) -> float | None:
        """The mean of its evaluations' validation losses, each read at the epoch of its best
        accuracy; None when an evaluation did not record one."""
        recorded = [t.user_attrs.get(VAL_LOSS) for t in self.evaluations]
        losses = [float(v) for v in recorded if v is not None]
        if not losses or len(losses) < len(recorded) or not all(map(math.isfinite, losses)):
            return None
        return statistics.fmean(losses)

    @property
    def val_rows(self) -> int | None:
        rows = self.trial.user_attrs.get(VAL_ROWS)
        return int(rows) if rows else None

    @property
    def se_val(self) -> float | None:
        """The binomial standard error of the mean accuracy that the validation part's size
        alone implies (on 126 rows one picture is 0.8 points)."""
        p, rows = self.mean, self.val_rows
        if p is None or not rows:
            return None
        # Every evaluation scores the same rows: more seeds do not shrink this part.
        return binomial_se(p, rows)

    @property
    def seeds(self) -> list[int]:
        """The seeds its evaluations took (failed and refused re-evaluations included)."""
        tried = [*self.evaluations, *self.failed, *self.refused]
        recorded = (t.user_attrs.get(SEED) for t in tried)
        return [int(seed) for seed in recorded if seed is not None]

    def unused_seeds(self, count: int, offset: int = 0) -> list[int]:
        """``count`` seeds none of its evaluations used (above the largest, shifted by
        ``offset``): a check trained with them is a fresh draw, not a replay."""
        used = set(self.seeds)
        candidates = itertools.count(max(used, default=self.number) + 1 + offset)
        return list(itertools.islice((seed for seed in candidates if seed not in used), count))

    @property
    def best_epochs(self) -> list[int]:
        return [e for e in (best_epoch(t) for t in self.evaluations) if e]

    @property
    def refit_epochs(self) -> int | None:
        """Epochs for a refit: the latest of the evaluations' best epochs. On a small
        validation part an early best is mostly a lucky draw (one picture is 1.7 points on 60
        rows, and ties go to the earliest epoch), and a refit stopped early loses more than
        one trained past the peak: on the hard set at 300 rows, one configuration's 3-seed
        refit scored 0.813 held-out at 4 epochs (its evaluations' median), 0.900 at 5, 0.873
        at 6 and 0.853 at 8 (``benchmarks/small_data.py``). The median it replaces chose 4
        on two of three search seeds there."""
        epochs = self.best_epochs or [e for e in [best_epoch(self.trial)] if e]
        return max(epochs) if epochs else None

    @property
    def complete(self) -> bool:
        from optuna.trial import TrialState

        return self.trial.state == TrialState.COMPLETE

    def full_fidelity(self, max_epochs: int | None) -> bool:
        """False for a trial run on a smaller epoch budget than the study's (a Hyperband
        bracket's early rung): its figure is not comparable, and it does not compete for
        refit while a full-budget one exists."""
        budget = self.trial.user_attrs.get(BUDGET_EPOCHS)
        return budget is None or not max_epochs or int(budget) >= int(max_epochs)


def configurations(study: optuna.Study) -> list[Configuration]:
    """Every search trial's configuration, completed ones first, best mean first.

    Completed configurations are ranked by the mean of their evaluations, those trained on
    the study's whole epoch budget before those of a smaller budget (Hyperband's early
    rungs); pruned, failed and running trials follow in that order, by their best epoch's
    accuracy. Means equal to ``MEAN_DIGITS`` decimals tie (accuracies on a small validation
    part are fractions k/n, whose sums differ in the last bit with their order); a tie goes
    to the higher seed average (the figure of what a refit writes), then to more
    evaluations, then to the lower mean validation loss (where accuracy saturates, as at
    1.0, the loss still tells a network that is sure of its answers from one that barely
    is), then to the earlier trial.
    """
    from optuna.trial import TrialState

    max_epochs = study.user_attrs.get(MAX_EPOCHS)
    trials = [t for t in study.get_trials(deepcopy=False) if ran(t)]
    by_number = {
        t.number: Configuration(t, [t] if t.state == TrialState.COMPLETE else [])
        for t in trials
        if not is_reevaluation(t)
    }
    for t in trials:
        if is_reevaluation(t) and t.state in (TrialState.COMPLETE, TrialState.FAIL):
            target = by_number.get(int(t.user_attrs[EVALUATES]))
            if target is None or not target.complete:
                continue
            if t.state == TrialState.COMPLETE:
                target.evaluations.append(t)
            elif t.user_attrs.get(SKIPPED):
                target.refused.append(t)
            else:
                target.failed.append(t)

    def key(c: Configuration) -> tuple[int, bool, float, float, int, float, int]:
        mean, val_loss = c.mean, c.val_loss
        seed_average = c.seed_average if c.complete and c.n >= 2 else None
        return (
            state_rank(c.trial.state),
            not c.full_fidelity(max_epochs),
            -round(mean if mean is not None else -1.0, MEAN_DIGITS),
            -(seed_average if seed_average is not None else -1.0),
            -c.n,
            val_loss if val_loss is not None else math.inf,
            c.number,
        )

    return sorted(by_number.values(), key=key)
