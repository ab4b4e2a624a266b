"""Processes mmtune starts itself run this very package, never a ``./mmtune/`` folder of the
working directory; the dashboard warns before it serves beyond this machine."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from searchkit import tiny_data, tiny_space

import mmtune
import mmtune.search.workers
from mmtune.cli import main
from mmtune.launch import mmtune_command


@pytest.fixture
def planted(tmp_path):
    """A working directory holding a ``mmtune/`` package that announces itself."""
    fake = tmp_path / "mmtune"
    fake.mkdir()
    for name in ("__init__.py", "__main__.py", "cli.py"):
        (fake / name).write_text("print('PLANTED PACKAGE RAN'); raise SystemExit(7)\n")
    return tmp_path


def _run(argv, cwd):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_launch_command_ignores_a_planted_package(planted):
    proc = _run(mmtune_command(["--version"]), planted)
    assert "PLANTED" not in proc.stdout + proc.stderr
    assert proc.returncode == 0 and proc.stdout.strip() == f"mmtune {mmtune.__version__}"


def test_a_recycled_process_ignores_a_planted_package(planted):
    # the parent imports the real package (its own path cleaned), then re-execs itself
    parent = (
        "import sys; sys.path.remove(''); from mmtune.search.memory import reexec_self; "
        "reexec_self(['--version'])"
    )
    proc = _run([sys.executable, "-c", parent], planted)
    assert "PLANTED" not in proc.stdout + proc.stderr
    assert proc.returncode == 0 and proc.stdout.strip() == f"mmtune {mmtune.__version__}"


def test_workers_ignore_a_planted_package(planted, tmp_path, monkeypatch):
    started = []

    class FakeWorker:
        def __init__(self, argv, env, start_new_session=False):
            assert start_new_session, "a worker has a session of its own"
            started.append(argv)

        def wait(self):
            return 0

    monkeypatch.setattr(mmtune.search.workers, "prepare_search", lambda cfg: None)
    monkeypatch.setattr(mmtune.search.workers.subprocess, "Popen", FakeWorker)
    assert (
        main(
            [
                "search",
                "--space",
                str(tiny_space(tmp_path)),
                "--workers",
                "2",
                "--storage",
                "postgresql+psycopg://u@h/db",
                "--data",
                str(tiny_data(tmp_path / "data")),
                "--results",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    monkeypatch.undo()  # subprocess.Popen itself again
    argv = started[0]
    verb = argv.index("search")
    proc = _run(argv[:verb] + ["--version"], planted)  # the workers' own interpreter command
    assert "PLANTED" not in proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"mmtune {mmtune.__version__}"


# -- the dashboard ----------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A ledger with one study, and optuna-dashboard's server replaced by a recorder."""
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    hosts = []
    monkeypatch.setattr(
        optuna_dashboard, "run_server", lambda storage, host, port: hosts.append(host)
    )
    storage = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    optuna.create_study(study_name="s", storage=storage)
    return storage, hosts


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop.example", ""])
def test_dashboard_beyond_loopback_warns(host, served, capsys):
    storage, hosts = served
    assert main(["dashboard", "--storage", storage, "--host", host]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "no authentication" in err and "127.0.0.1" in err
    assert hosts == [host]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_dashboard_on_loopback_does_not_warn(host, served, capsys):
    storage, hosts = served
    assert main(["dashboard", "--storage", storage, "--host", host]) == 0
    assert "warning" not in capsys.readouterr().err
