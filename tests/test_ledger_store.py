"""The ledger's storage: what opening it sets up."""

from __future__ import annotations

import sqlite3
import threading

import optuna

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
