"""The ledger's storage: what opening it sets up."""

from __future__ import annotations

import sqlite3
import threading
import time

import optuna
import pytest

from mmtune.ledger.store import LEDGER_FILE, Ledger


def test_a_write_to_the_sqlite_ledger_waits_for_another_connections_lock(tmp_path):
    """Another connection (the heartbeat's thread, a second process, a slow machine) holds the
    SQLite ledger's lock for 6 s: a write waits for it, where SQLite's default 5 s raised
    "database is locked" and failed the search."""
    ledger = Ledger(tmp_path)
    study = optuna.create_study(storage=ledger.storage(), study_name="locked")
    other = sqlite3.connect(tmp_path / LEDGER_FILE, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(6.0, other.rollback)
    release.start()
    try:
        study.set_user_attr("written", True)
    finally:
        release.join()
        other.close()
    assert optuna.load_study(study_name="locked", storage=ledger.storage()).user_attrs == {
        "written": True
    }


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")  # study.ask
def test_a_silent_trial_of_another_machine_is_failed_by_the_heartbeat_and_retried(tmp_path):
    """A worker on another machine died mid-trial: its pid cannot be checked from here, so
    the trial is left to the heartbeat. Silent past the grace period (3 beats), it is
    failed and its parameters are queued again."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    from mmtune.ledger.records import OWNER
    from mmtune.search.orphans import fail_orphaned_trials

    ledger = Ledger(tmp_path, heartbeat=1)
    storage = ledger.storage()
    study = optuna.create_study(storage=storage, study_name="far", direction="maximize")
    trial = study.ask({"x": FloatDistribution(0.0, 1.0)})
    trial.set_user_attr(OWNER, "another-machine:123:456")
    assert isinstance(storage, optuna.storages.RDBStorage)
    storage.record_heartbeat(trial._trial_id)
    assert fail_orphaned_trials(study) == [], "not this machine's process: not judged here"
    time.sleep(5.0)  # past the 3 s grace period, in the storage clock's whole seconds
    optuna.storages.fail_stale_trials(study)
    failed, retry = study.get_trials()
    assert failed.state == TrialState.FAIL
    assert retry.state == TrialState.WAITING and retry.params == failed.params


_OPEN_AT = """
import sys, time
from mmtune.ledger.store import Ledger
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
Ledger(sys.argv[1]).storage()
print("opened")
"""


def test_processes_creating_a_new_sqlite_ledger_at_once_all_open_it(tmp_path):
    """Several processes open a ledger no one has created yet (a search starting while
    `mmtune results` polls, two workers on one SQLite file): each checks which of Optuna's
    tables exist, then creates the missing ones, so one can meet "table ... already exists"
    between the two steps. Every one of them opens the ledger."""
    import subprocess
    import sys

    at = time.time() + 5.0  # every process has imported Optuna by then, and waits
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT, str(tmp_path / "results"), str(at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert all(output.strip().endswith("opened") for output in outputs), outputs
