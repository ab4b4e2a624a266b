"""Rank by what repeats: a search's finalists are trained again with other seeds.

One short trial of this network family can swing by tens of points between
seeds; the best of many single runs is then mostly the luckiest. Before a
search names its best, its finalists race (:func:`next_evaluation`): the leader
(the best mean) is brought to ``repeats`` evaluations (the search trial counts
as the first; two are enough when they agree within the validation part's
standard error and no other configuration is worth a run), and each other of
the top ``finalists`` configurations is evaluated again while another run of it
is worth its epochs: while shipping the leader instead is expected to cost at
least one validation row's accuracy (:func:`expected_loss`). The ranking is
taken again after every evaluation, so a leader whose mean falls lets the next
configuration lead. Each evaluation is a ledger trial of its own, marked
``evaluates`` (see :mod:`mmtune.ledger.evaluations`); they do not count toward
``--trials``.

A re-evaluation trains exactly like a search trial (same epochs, patience and
trainer), only with another seed, and is never pruned. One that fails (a NaN
loss with this seed) is recorded as failed and counts as an accuracy of 0 in
its configuration's mean: a configuration that diverges on some seeds is not
one to ship. One refused before training (no process here can hold it under
``--max-memory-mb``) is recorded as failed and ``skipped``: it says nothing
of the configuration, so it stays out of the mean, but counts as an attempt,
so the race does not ask for it again.

Several workers of one study (``--workers N``, or processes on other machines) share the
race: each re-evaluation is claimed once through the storage (:class:`mmtune.ledger.claims.
Claims`, key ``evaluate:<trial>:<index>``) before it trains, as Optuna hands a trial to one
worker, and its seed comes from its index, so no seed is used twice for one configuration.
A worker counts the evaluations others are running (their claims) as attempts and takes the
next one the race needs; when the race needs nothing more it waits for those still running
elsewhere, whose results decide the ranking, so every worker names the same best. A claim
whose worker died (its process gone, or silent for three heartbeats) no longer counts; its
index (and seed) is not used again.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING

from mmtune.errors import OverMemoryCeiling
from mmtune.ledger.claims import Claims
from mmtune.ledger.evaluations import (
    Configuration,
    configurations,
    evaluation_seed,
    is_reevaluation,
)
from mmtune.ledger.records import (
    DATA_HASH,
    EPOCHS,
    EVALUATES,
    EVALUATION,
    MAX_EPOCHS,
    OWNER,
    SEED,
    TUNER,
    VAL_ROWS,
)
from mmtune.ledger.store import PendingTrial, record_end, record_epoch, record_result
from mmtune.search.budget import budget_said, race_budget_spent
from mmtune.search.memory import MemoryWatch, RecycleProcess
from mmtune.search.orphans import owner_is_gone, owner_of_this_process
from mmtune.search.trial import outcome_of, trial_split

if TYPE_CHECKING:
    import optuna

    from mmtune.data.trial_data import DataSource
    from mmtune.model.training import TrainOptions
    from mmtune.search.config import SearchConfig
    from mmtune.search.progress import SearchProgress

__all__ = [
    "expected_loss",
    "next_evaluation",
    "race_spread",
    "race_summary",
    "reevaluate_finalists",
    "seed_spread",
    "settled",
    "worth_another_run",
]


_CLAIM = "evaluate:"  # a re-evaluation's claim: evaluate:<trial>:<index>
_POLL_S = 2.0  # how often a worker waiting for others' re-evaluations looks again


def _contenders(study: optuna.Study) -> list[Configuration]:
    """The completed configurations trained on the study's whole epoch budget, best first."""
    max_epochs = study.user_attrs.get(MAX_EPOCHS)
    return [c for c in configurations(study) if c.complete and c.full_fidelity(max_epochs)]


def seed_spread(ranked: list[Configuration]) -> float:
    """The seed-to-seed standard deviation of one evaluation, pooled over the
    configurations evaluated more than once (0.0 before any is)."""
    dof = sum(c.n - 1 for c in ranked if c.n >= 2)
    if not dof:
        return 0.0
    return math.sqrt(sum((c.n - 1) * (c.sd or 0.0) ** 2 for c in ranked if c.n >= 2) / dof)


_NORMAL = NormalDist()
PRIOR_DOF = 2  # the weight, in evaluations' degrees of freedom, of the spread's prior


def race_spread(ranked: list[Configuration], leader: Configuration) -> float:
    """The seed-to-seed swing the race allows one evaluation: :func:`seed_spread` shrunk
    toward the validation part's binomial standard error at the leader's mean, weighted as
    ``PRIOR_DOF`` evaluations (a moderated variance). A spread measured from a few runs can
    come out near zero by chance: three runs at 0.950, 0.950 and 0.955 (sd 0.003) on 200
    rows drew 0.885 and 0.945 next, and with the raw spread a challenger at 0.945 (one
    run) counted as decided."""
    dof = sum(c.n - 1 for c in ranked if c.n >= 2)
    prior = leader.se_val or 0.0
    return math.sqrt((dof * seed_spread(ranked) ** 2 + PRIOR_DOF * prior**2) / (dof + PRIOR_DOF))


def expected_loss(challenger: Configuration, leader: Configuration, spread: float) -> float:
    """The accuracy expected to be lost by shipping ``leader`` instead of ``challenger``:
    E[max(0, d)] for their true difference d ~ N(m, s^2), where m is the difference of their
    means and s = ``spread`` * sqrt(1/n_challenger + 1/n_leader) (each mean's seed noise)."""
    gap = (challenger.mean or 0.0) - (leader.mean or 0.0)
    s = spread * math.sqrt(1 / max(challenger.n, 1) + 1 / max(leader.n, 1))
    if s <= 0:
        return max(gap, 0.0)
    z = gap / s
    return s * _NORMAL.pdf(z) + gap * _NORMAL.cdf(z)


def worth_another_run(challenger: Configuration, leader: Configuration, spread: float) -> bool:
    """True while shipping ``leader`` instead of ``challenger`` is expected to lose at least
    one validation row's accuracy (half a point when the rows are unknown): below that, the
    validation part cannot tell them apart, and another run would buy nothing a user sees.
    A challenger far below the leader for the swing is unlikely to be better; one close to
    it with a small swing can only be better by a little."""
    rows = leader.val_rows
    return expected_loss(challenger, leader, spread) >= (1 / rows if rows else 0.005)


def next_evaluation(
    study: optuna.Study, finalists: int, repeats: int, running: Mapping[int, int] | None = None
) -> Configuration | None:
    """The configuration the race needs evaluated next, or None when it is decided.

    Among the top ``finalists`` completed full-budget configurations by mean: the leader
    until it has ``repeats`` evaluations (or fewer, two at least, when they agree and no
    challenger is worth a run: :func:`settled`); then, best first, each other one short of
    ``repeats`` that is :func:`worth_another_run` against the leader (with the seeds' swing
    of :func:`race_spread`). One whose gap to the leader is large for the swing, or too
    small to matter, is not trained again. ``running``: evaluations of each configuration
    (by trial number) that workers are running now, counted as attempts.
    """
    ranked = _contenders(study)
    top = ranked[:finalists]
    if not top:
        return None
    running = running or {}

    def tried(c: Configuration) -> int:
        return c.attempts + running.get(c.number, 0)

    leader = top[0]
    spread = race_spread(ranked, leader)
    challenger = next(
        (c for c in top[1:] if tried(c) < repeats and worth_another_run(c, leader, spread)),
        None,
    )
    if tried(leader) < repeats and not (challenger is None and settled(leader)):
        return leader
    return challenger


def settled(leader: Configuration) -> bool:
    """True for a leader whose two or more evaluations agree within the validation part's
    standard error (their spread no larger than what the rows alone would swing): a further
    seed would move its mean by less than one validation row is worth, so, with no
    challenger worth a run, the race stops short of ``--repeats`` and saves its epochs."""
    return leader.n >= 2 and not leader.failed and (leader.sd or 0.0) <= (leader.se_val or 0.0)


@dataclass
class _Board:
    """The race's claims as the storage holds them now: evaluations running (claimed, no
    result yet, their worker alive) per configuration, how many of them other workers run,
    and every index claimed per configuration (whatever became of it: never reused)."""

    running: Counter[int] = field(default_factory=Counter)
    elsewhere: int = 0
    claimed: dict[int, set[int]] = field(default_factory=dict)


def _board(study: optuna.Study, claims: Claims, stale_after_s: float) -> _Board:
    from optuna.trial import TrialState

    done = {
        (int(t.user_attrs[EVALUATES]), int(t.user_attrs[EVALUATION]))
        for t in study.get_trials(deepcopy=False)
        if is_reevaluation(t)
        and t.user_attrs.get(EVALUATION) is not None
        and t.state in (TrialState.COMPLETE, TrialState.FAIL)
    }
    board, now = _Board(), time.time()
    for claim in claims.held(_CLAIM):
        number, index = (int(part) for part in claim.key[len(_CLAIM) :].split(":"))
        board.claimed.setdefault(number, set()).add(index)
        if (number, index) in done or claim.owner == claims.owner:
            continue  # done; or this process's own before it re-executed itself: not running
        if owner_is_gone(claim.owner) or now - claim.beat_at > stale_after_s:
            continue  # its worker died: it counts no more, its index stays used
        board.running[number] += 1
        board.elsewhere += 1
    return board


def _claim_next(config: Configuration, board: _Board, claims: Claims, base_seed: int) -> int | None:
    """Claim ``config``'s next evaluation: the index above every one tried or claimed whose
    seed it has not used; None when another worker claimed that index first."""
    index = max(config.attempts, 1 + max(board.claimed.get(config.number, {0})))
    used = set(config.seeds)
    while evaluation_seed(base_seed, config.number, index) in used:
        index += 1
    return index if claims.take(f"{_CLAIM}{config.number}:{index}") else None


def _release(claims: Claims, key: str) -> None:
    """Give a claim back; a storage that cannot be reached now leaves it to go stale."""
    with contextlib.suppress(Exception):
        claims.release(key)


@contextlib.contextmanager
def _beating(claims: Claims, key: str, every_s: float) -> Iterator[None]:
    """While the block runs, say every ``every_s`` seconds that this worker is alive on
    ``key`` (a silent claim is taken for dead after three)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                claims.beat(key)
            except Exception:  # a storage hiccup: the next beat tries again
                pass

    thread = threading.Thread(target=beat, name="mmtune-claim-beat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def reevaluate_finalists(
    study: optuna.Study,
    cfg: SearchConfig,
    source: DataSource,
    progress: SearchProgress,
    options: TrainOptions,
) -> int:
    """Run the finalists' race (:func:`next_evaluation`) until it is decided, or until the
    search's ``--epoch-budget`` is spent (the evaluation that crosses it finishes); returns the
    evaluations run. Their number is bounded (twice what every finalist's ``cfg.repeats``
    would take), so a ranking that keeps changing cannot go on for ever."""
    if cfg.finalists < 1 or cfg.repeats < 2:
        return 0
    limit = 2 * cfg.finalists * (cfg.repeats - 1)
    memory = cfg.memory_watch()
    claims = Claims(study, owner_of_this_process())
    stale_after_s = 3.0 * cfg.heartbeat
    ran, waiting_said = 0, False
    while True:
        board = _board(study, claims, stale_after_s)
        config = next_evaluation(study, cfg.finalists, cfg.repeats, board.running)
        if config is None or ran >= limit or race_budget_spent(cfg, study):
            if not board.elsewhere:
                break
            if not waiting_said:  # their results decide the ranking every worker names
                progress.message(
                    f"waiting for {board.elsewhere} re-evaluation(s) other workers are running"
                )
                waiting_said = True
            time.sleep(min(_POLL_S, cfg.heartbeat))
            continue
        if ran:  # between evaluations, before a claim (a restart leaves none behind)
            memory.after_trial()
        index = _claim_next(config, board, claims, cfg.seed)
        if index is None:  # another worker claimed it first: look again
            continue
        key = f"{_CLAIM}{config.number}:{index}"
        memory.before_trial()
        try:
            with _beating(claims, key, cfg.heartbeat):
                _evaluate(study, cfg, source, progress, options, config, memory, index)
        except OverMemoryCeiling as exc:  # this grown process cannot; a fresh one may
            _release(claims, key)
            raise RecycleProcess(
                f"re-evaluating trial {config.number}: {exc.need} in this process",
                memory.trial_need_mb,
            ) from exc
        except BaseException:  # Ctrl-C, a fatal error: nothing recorded, the claim given back
            _release(claims, key)
            raise
        ran += 1
    if next_evaluation(study, cfg.finalists, cfg.repeats) is None:
        summary = race_summary(study, cfg.finalists, cfg.repeats)
        if summary:
            progress.message(summary)
    elif race_budget_spent(cfg, study):
        leader = _contenders(study)[0]
        progress.message(
            f"finalists' race stopped undecided: --epoch-budget {cfg.epoch_budget} spent"
            f"{budget_said(cfg, study)}; trial {leader.number} leads with {leader.mean:.4f} over "
            f"{leader.n} evaluation(s)"
        )
    return ran


def race_summary(study: optuna.Study, finalists: int, repeats: int) -> str | None:
    """One line on a decided race whose challengers stopped short of ``repeats``: who
    leads, and which finalists were not worth another run (None otherwise)."""
    ranked = _contenders(study)
    top = ranked[:finalists]
    short = [c for c in top[1:] if c.attempts < repeats]
    if not top or not short:
        return None
    leader = top[0]
    others = ", ".join(f"{c.number} ({c.mean:.4f} over {c.n})" for c in short)
    return (
        f"finalists decided: trial {leader.number} leads with {leader.mean:.4f} over "
        f"{leader.n} evaluations; not trained again, shipping the leader instead is expected "
        f"to lose under one validation row (seeds' swing {race_spread(ranked, leader):.4f}): "
        f"trial(s) {others}"
    )


def _evaluate(
    study: optuna.Study,
    cfg: SearchConfig,
    source: DataSource,
    progress: SearchProgress,
    options: TrainOptions,
    config: Configuration,
    memory: MemoryWatch,
    index: int,
) -> None:
    """Train ``config`` once more, as its ``index``-th evaluation (claimed: its seed is
    this evaluation's alone), and add the result to the ledger. A configuration refused for
    the memory ceiling that a fresh process may hold raises :class:`OverMemoryCeiling`,
    recorded nowhere: the search recycles and retries it. Its outcome follows the rule of
    every trial (:func:`mmtune.search.trial.outcome_of`); a stop (Ctrl-C) records nothing."""
    from optuna.trial import TrialState

    from mmtune.model.training import run_trial

    seed = evaluation_seed(cfg.seed, config.number, index)
    params = dict(config.trial.params)
    progress.message(
        f"re-evaluating trial {config.number} with seed {seed} (evaluation "
        f"{index + 1} of {cfg.repeats}; mean so far {config.mean:.4f})"
    )
    trial = PendingTrial(
        {
            EVALUATES: config.number,
            EVALUATION: index,
            OWNER: owner_of_this_process(),
            SEED: seed,
            TUNER: "re-evaluation",
            DATA_HASH: _data_hash(study),
            VAL_ROWS: config.val_rows,
            EPOCHS: 0,
        }
    )

    def report(epoch: int, logs: dict[str, float]) -> None:
        record_epoch(trial, epoch, logs)
        progress.epoch_done(epoch, logs.get("val_accuracy"))

    started = time.perf_counter()
    split = trial_split(source, cfg.space, params)
    try:
        result = run_trial(cfg.space.model, params, split, options, seed=seed, report=report)
    except BaseException as exc:
        outcome = outcome_of(exc, memory)
        if outcome.stops or outcome.retry:  # retried in a fresh process: nothing recorded
            raise
        record_end(
            trial,
            failed=True,
            reason=outcome.reason,
            skipped=outcome.refused,
            duration_s=time.perf_counter() - started,
        )
        trial.add_to(study, outcome.state(reevaluation=True), params, config.trial.distributions)
        progress.message(f"re-evaluation of trial {config.number} failed: {outcome.reason[:200]}")
        return
    record_result(trial, result)
    trial.add_to(
        study,
        TrialState.COMPLETE,
        params,
        config.trial.distributions,
        value=result.best_val_accuracy,
    )
    progress.message(
        f"re-evaluation of trial {config.number}: {result.best_val_accuracy:.4f} "
        f"at epoch {result.best_epoch} ({time.perf_counter() - started:.0f}s)"
    )


def _data_hash(study: optuna.Study) -> str | None:
    value = study.user_attrs.get(DATA_HASH)
    return str(value) if value is not None else None
