"""Tuners in one table: the command line, the README and every capability check read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmtune.cli import build_parser, main
from mmtune.errors import MmtuneError
from mmtune.search import tuners
from mmtune.search.backends import backend_for

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readmes_table_of_tuners_is_the_registrys():
    assert tuners.readme_table() in README.read_text(), (
        "README.md's table of tuners differs from mmtune.search.tuners.TUNERS; "
        "paste this in its place:\n" + tuners.readme_table()
    )


def test_the_command_line_offers_every_tuner_and_defaults_to_the_first():
    search = build_parser()._subparsers._group_actions[0].choices["search"]  # type: ignore[union-attr]
    tuner = next(a for a in search._actions if a.dest == "tuner")
    assert tuple(tuner.choices) == tuners.names() and tuner.default == tuners.names()[0]


def test_an_unknown_tuner_is_an_error_everywhere(capsys):
    with pytest.raises(MmtuneError, match="Expected a tuner among tpe, .*Received: tuner='nope'"):
        tuners.tuner_named("nope")
    with pytest.raises(MmtuneError, match="Received: tuner='nope'"):
        backend_for("nope")
    with pytest.raises(SystemExit) as exc:
        main(["search", "--space", "direct_mix", "--tuner", "nope"])
    assert exc.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("tuner", tuners.TUNERS, ids=tuners.names())
def test_every_tuner_names_a_backend_and_one_factory(tuner):
    backend = backend_for(tuner.name) if tuner.family == "Optuna" else None
    assert (tuner.sampler is None) != (tuner.oracle is None)
    assert tuner.backend in ("optuna_backend", "keras_tuner_backend")
    if backend is not None:
        assert backend.__name__.endswith(tuner.backend)
    if tuner.workers or tuner.pruners or tuner.warm_start:
        assert tuner.sampler is not None, "the ledger study's capabilities need its sampler"
