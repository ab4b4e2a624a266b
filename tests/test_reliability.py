"""The reliability matrix: several workers on PostgreSQL, killed and interrupted workers,
half-written state, a full disk, bad data through every verb, a change of data on resume."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from searchkit import TINY_SPACE, search_argv, tiny_data, tiny_space

from mmtune.cli import main
from mmtune.ledger.store import Ledger
from mmtune.search.memory import STARTED_ENV, TRIAL_NEED_ENV

# Trials long enough to be caught mid-way: 8 epochs, never stopped early or skipped.
SLOW_SPACE = TINY_SPACE.replace("name: tiny", "name: slow").replace(
    "max_epochs: 1", "max_epochs: 8"
)
STEADY = ("--patience", "0", "--max-cost", "0", "--pruner", "none")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("reliability") / "data")


def _study(results=None, storage=None, name="tiny"):
    return Ledger(results or "results", storage).load_study(name)[0]


def _search_cmd(space, data, results, trials, *extra):
    return [
        sys.executable,
        "-m",
        "mmtune",
        *search_argv(space, data, results, "--finalists", "0", "--trials", str(trials), *extra),
    ]


def _piped_output(process: subprocess.Popen) -> str:
    """What an ended process wrote to the pipes the test gave it (none when it gave none)."""
    out, err = process.communicate(timeout=10)
    return (out or "") + (err or "")


def _wait_for_running_epoch(results, name, timeout=180.0, completed=0, process=None, log=None):
    """Wait until a trial is RUNNING with at least one epoch recorded (and ``completed`` done).
    ``log``: the process's output, shown when it ends first."""
    deadline = time.monotonic() + timeout
    storage = f"sqlite:///{Path(results).resolve() / 'ledger.sqlite3'}"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            said = Path(log).read_text() if log else _piped_output(process)
            raise AssertionError(
                f"the search ended (exit {process.returncode}) before a trial "
                f"could be caught mid-way:\n{said[-3000:]}"
            )
        try:
            trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        except Exception:  # the ledger or study does not exist yet
            time.sleep(0.3)
            continue
        done = [t for t in trials if t.state.name == "COMPLETE"]
        running = [
            t
            for t in trials
            if t.state.name == "RUNNING" and (t.user_attrs.get("val_accuracy_curve") or [])
        ]
        if running and len(done) >= completed:
            return running[0].number, {t.number: (t.value, t.params) for t in done}
        time.sleep(0.2)
    raise AssertionError("no trial reached its first epoch in time")


def test_two_workers_on_postgres_finish_the_trials_once_each(data, tmp_path, postgres_url):
    """--trials counts across workers, exactly; both workers train (trials of a few seconds,
    so one cannot finish them all while the other imports TensorFlow)."""
    from mmtune.ledger.evaluations import counts_toward_trials

    space = tiny_space(tmp_path)
    assert (
        main(
            search_argv(
                space,
                data,
                tmp_path,
                "--finalists",
                "0",
                "--trials",
                "6",
                "--max-epochs",
                "3",
                *STEADY,
                "--workers",
                "2",
                "--storage",
                postgres_url,
            )
        )
        == 0
    )
    trials = _study(storage=postgres_url).get_trials()
    counted = [t for t in trials if counts_toward_trials(t)]
    assert len(counted) == 6
    owners = {t.user_attrs["owner"].rsplit(":", 2)[1] for t in counted}
    assert len(owners) == 2, f"both workers trained trials: {owners}"
    surplus = [t for t in trials if t.user_attrs.get("skipped")]
    assert all("surplus" in t.user_attrs["prune_reason"] for t in surplus)
    assert not (tmp_path / "ledger.sqlite3").exists(), "nothing went to SQLite"


def test_several_workers_on_sqlite_are_refused(data, tmp_path, capsys):
    code = main(
        search_argv(
            tiny_space(tmp_path),
            data,
            tmp_path,
            "--finalists",
            "0",
            "--trials",
            "2",
            "--workers",
            "2",
        )
    )
    err = capsys.readouterr().err
    assert code == 2 and "SQLite is not safe" in err and "postgresql" in err
    assert not (tmp_path / "ledger.sqlite3").exists()


def test_sigkill_on_the_default_sqlite_ledger_then_rerun_at_once_retries_the_trial(
    data, tmp_path, capsys
):
    """A killed process's RUNNING trial is failed by the next run at once (its pid is gone),
    without waiting for the heartbeat, and its parameters are tried again; the trial that
    completed before the kill is untouched, and the leaderboard shows the retry."""
    space = tmp_path / "slow.yaml"
    space.write_text(SLOW_SPACE)
    results = tmp_path / "results"
    # 2 trials: one completes, the next is killed mid-way; the rerun's retry is the second
    cmd = _search_cmd(space, data, results, 2, *STEADY)  # default --heartbeat 10
    log = tmp_path / "first-run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        killed, completed = _wait_for_running_epoch(
            results, "slow", completed=1, process=proc, log=log
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "2 trials done" in rerun.stdout
    trials = {t.number: t for t in _study(results, name="slow").get_trials()}
    assert trials[killed].state.name == "FAIL"
    assert "ended mid-trial" in trials[killed].user_attrs["fail_reason"]
    retries = [t for t in trials.values() if t.user_attrs.get("retry_of") == killed]
    assert len(retries) == 1 and retries[0].params == trials[killed].params
    assert retries[0].state.name in ("COMPLETE", "PRUNED")
    assert len(retries[0].user_attrs["val_accuracy_curve"]) == retries[0].user_attrs["epochs"]
    for number, (value, params) in completed.items():
        assert (trials[number].value, trials[number].params) == (value, params)
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials.values()) == 2
    capsys.readouterr()
    assert main(["results", "--results", str(results), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["retry_of"] == killed for r in rows), "the leaderboard shows the retry"


def test_ctrl_c_mid_trial_records_it_as_failed_and_exits_cleanly(data, tmp_path):
    space = tmp_path / "slow.yaml"
    space.write_text(SLOW_SPACE)
    results = tmp_path / "results"
    # A terminal's Ctrl-C reaches a process whose SIGINT is not ignored; a test run started in
    # the background (`pytest &` in a script) passes SIGINT ignored to its children.
    proc = subprocess.Popen(
        _search_cmd(space, data, results, 5, *STEADY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    running, completed = _wait_for_running_epoch(results, "slow", process=proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err
    trials = {t.number: t for t in _study(results, name="slow").get_trials()}
    assert trials[running].state.name == "FAIL"
    assert "interrupted" in trials[running].user_attrs["fail_reason"]
    for number, (value, params) in completed.items():
        assert (trials[number].value, trials[number].params) == (value, params)


def test_half_written_keras_tuner_state_is_set_aside(data, tmp_path, capsys):
    space = tiny_space(tmp_path)
    results = tmp_path / "results"
    args = search_argv(space, data, results, "--finalists", "0", "--tuner", "random")
    assert main(args + ["--trials", "2"]) == 0
    oracle = results / "tiny" / "keras_tuner" / "oracle.json"
    oracle.write_text(oracle.read_text()[:40])  # cut off mid-write
    assert main(args + ["--trials", "3"]) == 0
    assert "unreadable" in capsys.readouterr().err
    assert len(_study(results).get_trials()) == 3
    assert list((results / "tiny").glob("keras_tuner.broken-*"))


def test_half_written_ledger_trial_or_cache_does_not_break_the_next_run(data, tmp_path):
    """A stray temporary file beside the cache and the submission is ignored."""
    cache = Path(os.environ["MMTUNE_CACHE_DIR"]) / "pictures"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / ".tmp-half.npy").write_bytes(b"\x93NUMPY half a cache")
    space = tiny_space(tmp_path)
    results = tmp_path / "results"
    assert main(search_argv(space, data, results, "--finalists", "0", "--trials", "1")) == 0
    refit_dir = results / "tiny" / "refit"
    refit_dir.mkdir(parents=True)
    (refit_dir / ".tmp-submission.csv-x").write_text("id,CLA")
    assert main(["refit", "--best", "--no-check", "--seeds", "1", "--results", str(results)]) == 0
    rows = (refit_dir / "submission.csv").read_text().splitlines()
    assert rows[0] == "id,CLASS" and len(rows) == 10


def _enospc_on(monkeypatch, fragment):
    real = Path.write_bytes

    def full_disk(self, data):
        if fragment in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)


def test_disk_full_while_writing_the_submission(data, tmp_path, monkeypatch, capsys):
    space = tiny_space(tmp_path)
    results = tmp_path / "results"
    assert main(search_argv(space, data, results, "--finalists", "0", "--trials", "1")) == 0
    assert main(["refit", "--best", "--no-check", "--seeds", "1", "--results", str(results)]) == 0
    submission = results / "tiny" / "refit" / "submission.csv"
    before = submission.read_bytes()
    _enospc_on(monkeypatch, "submission.csv")
    capsys.readouterr()
    assert (
        main(
            [
                "refit",
                "--best",
                "--no-check",
                "--seeds",
                "1",
                "--seed",
                "4",
                "--results",
                str(results),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no space left" in err and "submission.csv" in err and "Traceback" not in err
    assert submission.read_bytes() == before
    assert not list(submission.parent.glob(".tmp-*"))


def test_disk_full_while_caching(data, tmp_path, monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setenv("MMTUNE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(os, "pwrite", full_disk)  # the build writes its pictures with pwrite
    assert main(["data", "check", "--data", str(data)]) == 0  # the cache costs speed, not the run
    err = capsys.readouterr().err
    assert "could not write the picture cache" in err and "no space left" in err.lower()
    cache_dir = tmp_path / "cache" / "pictures"
    assert not list(cache_dir.glob("*.npy")) and not list(cache_dir.glob(".tmp-*"))


def test_bad_data_is_refused_by_refit_with_the_ledger_untouched(tmp_path, capsys):
    data = tiny_data(tmp_path / "data")
    space = tiny_space(tmp_path)
    results = tmp_path / "results"
    assert main(search_argv(space, data, results, "--finalists", "0", "--trials", "1")) == 0
    ledger_before = (results / "ledger.sqlite3").read_bytes()
    (data / "testimg_00002.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    capsys.readouterr()
    assert main(["refit", "--best", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert "testimg_00002.png" in err and "data_test_novt.csv" in err and "Traceback" not in err
    assert (results / "ledger.sqlite3").read_bytes() == ledger_before
    assert not (results / "tiny" / "refit" / "submission.csv").exists()


_GROWING = """
import runpy, sys
from mmtune.model import training
kept, run_trial = [], training.run_trial
def growing(*args, **kwargs):
    kept.append(b"x" * (8 << 20))
    return run_trial(*args, **kwargs)
training.run_trial = growing
sys.argv[0] = "mmtune"
runpy.run_module("mmtune", run_name="__main__")
"""


@pytest.mark.parametrize(
    ("flags", "need", "grows", "trials", "restarts"),
    [
        # a process that grows (_GROWING) restarts after trial 2 (trial 1 sets the baseline)
        (("--recycle-mb", "1", "--max-memory-mb", "0"), None, True, 3, 1),
        # a trial "needed" 1 TB: each one could pass the ceiling (the models fit it easily), so
        # the process restarts after each trial but the last
        (
            ("--tuner", "random", "--recycle-mb", "0", "--max-memory-mb", "100000"),
            "1e6",
            False,
            2,
            1,
        ),
    ],
    ids=["grown-optuna", "ceiling-keras-tuner"],
)
def test_a_grown_search_process_recycles_itself_and_resumes(
    data, tmp_path, flags, need, grows, trials, restarts
):
    results = tmp_path / "results"
    env = dict(os.environ)
    if need:
        env[TRIAL_NEED_ENV] = need
    command = _search_cmd(tiny_space(tmp_path), data, results, trials, *flags)
    if grows:
        # A process that grows: each trial keeps 8 MB (the tiny models themselves leave less
        # than the 1 MB --recycle-mb allows); the recycled process runs unpatched.
        command[1:3] = ["-c", _GROWING]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.count("restarting the search process") == restarts, run.stderr[-2000:]
    states = [t.state.name for t in _study(results).get_trials()]
    assert [s in ("COMPLETE", "PRUNED") for s in states] == [True] * trials
    assert f"{trials} trials done" in run.stdout


class _Restarted(BaseException):
    """The search replaced its process with a fresh one (``reexec_self``, here recorded)."""


@pytest.mark.parametrize(
    ("tuner", "ceiling", "restarts"),
    [("tpe", 100_000, 1), ("random", 100_000, 1), ("tpe", 900, 0), ("random", 900, 0)],
    ids=["optuna-fits-fresh", "keras-tuner-fits-fresh", "optuna-fits-nowhere", "kt-fits-nowhere"],
)
def test_a_configuration_a_grown_process_refuses_is_retried_in_a_fresh_one_only_if_it_fits(
    data, tmp_path, monkeypatch, tuner, ceiling, restarts
):
    """Real searches in this process; only memory readings are set. The watch sees a fresh
    process holding 700 MB. The trainer's check sees 0 MB in a fresh process, and once, in a
    grown one, 1 TB: the second trial is refused there. A fresh process would hold it
    (700 MB + its need under the ceiling): the search restarts (here: runs again as a fresh
    process) and trains those very parameters first, with Optuna or Keras Tuner. Above the
    ceiling even when fresh, it is refused for good, with no restart."""
    from mmtune.commands import search as search_command
    from mmtune.model import training
    from mmtune.search import memory

    grown_once = iter([1e6])
    monkeypatch.setattr(memory, "rss_mb", lambda: 700.0)
    monkeypatch.setattr(memory, "peak_rss_mb", lambda: 700.0)
    monkeypatch.setattr(
        training, "rss_mb", lambda: 0.0 if memory.fresh_process() else next(grown_once, 0.0)
    )
    monkeypatch.setattr(memory, "_trials_begun", 0)
    monkeypatch.setattr(memory, "_fresh_mb", None)

    def reexec_self(argv: list[str]) -> None:
        raise _Restarted

    monkeypatch.setattr(search_command, "reexec_self", reexec_self)
    monkeypatch.setenv(STARTED_ENV, str(time.time()))
    monkeypatch.setenv(TRIAL_NEED_ENV, "0")
    results = tmp_path / "results"
    argv = _search_cmd(tiny_space(tmp_path), data, results, 2, "--tuner", tuner, *STEADY)[2:]
    monkeypatch.setattr(sys, "argv", [*argv, "--recycle-mb", "0", "--max-memory-mb", str(ceiling)])
    ran = 0
    while True:
        ran += 1
        try:
            assert main(None) == 0
            break
        except _Restarted:
            assert ran <= restarts, "restarted for a configuration no process could hold"
            monkeypatch.setattr(memory, "_trials_begun", 0)  # as the fresh process starts
    assert ran == restarts + 1
    trials = _study(results).get_trials()
    reason = trials[1].user_attrs["prune_reason"]
    assert trials[1].state.name == "PRUNED"
    if restarts:
        assert "retried in a fresh process" in reason, reason
        assert trials[2].params == trials[1].params and trials[2].state.name == "COMPLETE"
    else:
        assert "skipped untrained" in reason and "retried" not in reason, reason
        assert "a fresh process holds about 700 MB, so it would pass it too" in reason, reason
    assert [t.state.name for t in trials].count("COMPLETE") == 2 and len(trials) == 3


def test_configurations_that_would_pass_the_memory_ceiling_are_refused_untrained(data, tmp_path):
    """Each is skipped before training (not counted toward --trials) with what it needs; a
    run of them stops the search with the way out, and no trial trained."""
    results = tmp_path / "results"
    run = subprocess.run(
        _search_cmd(
            tiny_space(tmp_path), data, results, 2, "--max-memory-mb", "1", "--max-skips", "2"
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "2 configurations in a row were refused before training" in run.stderr
    assert "--max-memory-mb" in run.stderr
    trials = _study(results).get_trials()
    assert len(trials) == 2 and all(t.state.name == "PRUNED" for t in trials)
    assert all(
        "above --max-memory-mb 1: skipped untrained" in t.user_attrs["prune_reason"] for t in trials
    )
    assert not any(t.user_attrs.get("epochs") for t in trials)


@pytest.mark.parametrize("attempt", range(3))
def test_workers_opening_an_empty_postgres_database_at_once_all_succeed(postgres_server, attempt):
    """Each opener creates Optuna's tables; on an empty database, all at once, all but one
    used to fail with UniqueViolation (CREATE TYPE). Processes race as threads do here."""
    import threading

    import pgserver

    url = pgserver.new_database(postgres_server, f"t_race_{attempt}")
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_ledger() -> None:
        try:
            start.wait()
            Ledger("unused", url).storage()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_ledger) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert Ledger("unused", url).study_names() == []
