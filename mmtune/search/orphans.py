"""Trials whose process is gone: failed at once and, for the sampler's search, retried.

Optuna's heartbeat finds a killed worker's trial only after three silent beats,
and a rerun started sooner (a laptop's OOM killer, then the same command again)
saw the dead trial as running and stopped one short of ``--trials``. So every
trial records its owner (host, pid and the process's start time); a search that
finds a RUNNING trial owned by a process of this host that no longer exists
fails it with the reason and queues its parameters again, as the heartbeat's
retry does. A trial of another host is left to the heartbeat.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

from mmtune.ledger.records import FAIL_REASON, OWNER

__all__ = ["owner_of_this_process", "owner_is_gone", "fail_orphaned_trials"]


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def owner_of_this_process() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or '?'}"


def owner_is_gone(owner: str) -> bool:
    """True when ``owner`` names a process of this host that has ended (its pid free, or
    reused by a process started at another time)."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid_text, started = parts
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    now = _start_time(int(pid_text))
    return now is None or (started != "?" and now != started)


def fail_orphaned_trials(study: optuna.Study, retry: bool = True) -> list[int]:
    """Fail the RUNNING trials whose owner is gone; queue their parameters again when
    ``retry`` (at most twice, as the heartbeat's retry). Returns their numbers."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER)
        if not owner or not owner_is_gone(str(owner)):
            continue
        try:
            storage.set_trial_user_attr(
                trial._trial_id, FAIL_REASON, f"its process ({owner}) ended mid-trial (killed?)"
            )
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except RuntimeError:  # finished meanwhile by someone else
            continue
        failed.append(trial.number)
        if retry:
            frozen = study._storage.get_trial(trial._trial_id)
            optuna.storages.RetryFailedTrialCallback(max_retry=2)(study, frozen)
    return failed
