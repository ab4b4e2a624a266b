"""A storage URL's password is never shown: messages, status lines, worker command lines."""

from __future__ import annotations

import optuna
import pytest
from searchkit import tiny_data, tiny_space

import mmtune.search.workers
from mmtune.cli import main
from mmtune.ledger.store import Ledger
from mmtune.redact import redact_text, redact_url

SECRET = "hunter22"
REFUSED = f"postgresql+psycopg://user:{SECRET}@127.0.0.1:1/db"  # nothing listens on port 1


@pytest.mark.parametrize(
    "url, shown",
    [
        (f"postgresql+psycopg://user:{SECRET}@host/db", "postgresql+psycopg://user:***@host/db"),
        (
            "postgresql://user:s%40cr%2Fet@host:5432/db?sslmode=require",
            "postgresql://user:***@host:5432/db?sslmode=require",
        ),
        (f"postgresql://user@host/db?password={SECRET}", "postgresql://user@host/db?password=***"),
        ("sqlite:////tmp/results/ledger.sqlite3", "sqlite:////tmp/results/ledger.sqlite3"),
        (f"not a url user:{SECRET}@host", "not a url user:***@host"),
        (f"nonsense:user:{SECRET}@host/db", "nonsense:***@host/db"),
        ("", ""),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_text_masks_the_url_and_the_bare_password():
    text = f"bad URL {REFUSED!r}; the password {SECRET} was refused"
    shown = redact_text(text, REFUSED)
    assert SECRET not in shown and "user:***@127.0.0.1:1/db" in shown


@pytest.mark.parametrize("verb", ["results", "report", "dashboard"])
def test_a_storage_error_masks_the_password(verb, capsys):
    if verb == "dashboard":
        pytest.importorskip("optuna_dashboard")
    assert main([*verb.split(), "--storage", REFUSED]) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "user:***@127.0.0.1:1/db" in err and "Traceback" not in err


def test_an_unparseable_storage_masks_the_password(capsys):
    assert main(["results", "--storage", f"nonsense://user:{SECRET}@host/db"]) == 2
    err = capsys.readouterr().err
    assert SECRET not in err and "nonsense://user:***@host/db" in err


def test_ledger_display_url_keeps_url():
    ledger = Ledger("results", REFUSED)
    assert ledger.url == REFUSED and SECRET not in ledger.display_url


def test_storage_defaults_to_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("MMTUNE_STORAGE", REFUSED)
    assert main(["results"]) == 2
    assert "user:***@127.0.0.1:1/db" in capsys.readouterr().err


def test_workers_get_the_storage_by_environment_not_argv(tmp_path, monkeypatch, capsys):
    started = []

    class FakeWorker:
        def __init__(self, argv, env, start_new_session=False):
            started.append((argv, env))

        def wait(self):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(mmtune.search.workers, "prepare_search", lambda cfg: None)
    monkeypatch.setattr(mmtune.search.workers.subprocess, "Popen", FakeWorker)
    url = f"postgresql+psycopg://user:{SECRET}@dbhost/mmtune"
    code = main(
        [
            "search",
            "--space",
            str(tiny_space(tmp_path)),
            "--trials",
            "2",
            "--workers",
            "2",
            "--storage",
            url,
            "--data",
            str(tiny_data(tmp_path / "data")),
            "--results",
            str(tmp_path / "results"),
        ]
    )
    assert code == 0
    assert len(started) == 2
    for argv, env in started:
        assert not any(SECRET in a for a in argv), argv
        assert "--storage" not in argv
        assert env["MMTUNE_STORAGE"] == url
    out, err = capsys.readouterr()
    assert SECRET not in out + err and "user:***@dbhost/mmtune" in err


@pytest.fixture
def password_url(postgres_url):
    """The test database's URL with a password in it (the server trusts loopback anyway)."""
    user, rest = postgres_url.split("://", 1)[1].split("@", 1)
    url = postgres_url.replace(f"://{user}@", f"://{user}:{SECRET}@")
    study = optuna.create_study(study_name="pw", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    return url


def test_dashboard_shows_the_url_masked(password_url, monkeypatch, capsys):
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    monkeypatch.setattr(optuna_dashboard, "run_server", lambda *a, **k: None)
    assert main(["dashboard", "--storage", password_url]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert ":***@127.0.0.1" in out
    assert main(["results", "--storage", password_url, "--study", "nope"]) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err and "no study named 'nope'" in err
