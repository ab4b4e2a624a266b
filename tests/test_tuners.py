"""Tuners in one table: the command line, the README and every capability check read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmtune.cli import main, verb_parser
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
    tuner = next(a for a in verb_parser("search")._actions if a.dest == "tuner")
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


def test_a_tuner_whose_packages_are_missing_says_what_to_install(tmp_path, capsys, monkeypatch):
    """--tuner gp (Optuna's GPSampler) needs torch, which mmtune does not install: one line,
    exit 2, before the data is read or anything is written."""
    import importlib.util

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else found(name, *a)
    )
    results = tmp_path / "results"
    argv = ["search", "--space", "direct_mix", "--data", str(tmp_path), "--tuner", "gp"]
    assert main([*argv, "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert "--tuner gp needs torch, which is not installed: pip install torch" in err
    assert "Traceback" not in err and not results.exists()


def test_each_optuna_tuner_samples_with_its_own_sampler_seeded_per_trial(tmp_path):
    import optuna

    from mmtune.search.backends.optuna_backend import study_options
    from mmtune.search.config import SearchConfig
    from mmtune.search.space_files import load_space

    trial = optuna.trial.create_trial(value=0.5)
    trial.number = 5
    for tuner in tuners.TUNERS:
        if tuner.sampler is None:
            continue
        cfg = SearchConfig(space=load_space("direct_mix"), data_dir=tmp_path, tuner=tuner.name)
        made = study_options(cfg)["sampler"]._for(trial)
        assert type(made) is type(tuner.sampler(optuna, 5)) and made is not None
