"""Search space files: loading, validation, and sampling through Optuna and Keras Tuner."""

from __future__ import annotations

import textwrap

import keras_tuner
import optuna
import pytest

from mmtune.errors import SpaceError
from mmtune.locations import builtin_spaces_dir
from mmtune.models import MODEL_INPUTS, SEED_PARAMS
from mmtune.spaces import Param, Space, list_spaces, load_space

NAMES = sorted(MODEL_INPUTS)


def test_every_builtin_space_loads():
    spaces = list_spaces()
    assert [s.name for s in spaces] == NAMES
    for space in spaces:
        assert space.model == space.name
        assert space.description and "\n" not in space.description
        assert space.max_epochs == (30 if space.model == "audio_mlp" else 8)
        assert space.source == builtin_spaces_dir() / f"{space.name}.yaml"


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_the_seeds_values(name):
    space = load_space(name)
    defaults = space.defaults()
    assert defaults == {k: v for k, v in SEED_PARAMS[name].items() if k in defaults}
    assert set(defaults) == set(SEED_PARAMS[name])  # every seed parameter is searched
    assert "momentum" not in defaults  # conditional on optimizer == sgd
    shared = {"batch_size", "optimizer", "learning_rate"}
    if "image" in MODEL_INPUTS[name]:
        shared |= {"resolution", "augment_strength"}
    assert shared <= set(space.names)


def test_a_path_works_wherever_a_name_does(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text((builtin_spaces_dir() / "audio_mlp.yaml").read_text())
    assert load_space(str(path)).parameters == load_space("audio_mlp").parameters
    assert load_space(path).source == path
    with pytest.raises(SpaceError, match="No search space called 'nope'"):
        load_space("nope")


def test_active_drops_parameters_whose_condition_fails():
    space = load_space("direct_mix")
    values = {**space.defaults(), "momentum": 0.5}
    assert "momentum" not in space.active(values)
    assert space.active({**values, "optimizer": "sgd"})["momentum"] == 0.5
    assert space.active({"epochs": 3})["epochs"] == 3  # names outside the space are kept


def _check_inside(space: Space, values: dict) -> None:
    assert values == space.active(values)
    for p in space.parameters:
        assert (p.name in values) == p.is_active(values), p.name
        if p.name in values:
            value = values[p.name]
            assert p.contains(value), (p.name, value)
            assert type(value) is {"int": int, "float": float, "bool": bool}.get(
                p.type, type(p.default)), (p.name, value)


@pytest.mark.parametrize("name", NAMES)
def test_optuna_sampling_stays_inside_the_space(name):
    space = load_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_sgd = seen_other = False
    for _ in range(150):
        trial = study.ask()
        values = space.suggest_optuna(trial)
        _check_inside(space, values)
        assert trial.distributions == space.optuna_distributions(values)
        seen_sgd |= values["optimizer"] == "sgd"
        seen_other |= values["optimizer"] != "sgd"
        study.tell(trial, 0.5)
    assert seen_sgd and seen_other


def test_optuna_distributions_record_a_keras_tuner_trial():
    space = load_space("direct_mix")
    study = optuna.create_study()
    params = space.defaults()
    study.add_trial(optuna.trial.create_trial(
        params=params, distributions=space.optuna_distributions(params), value=0.9))
    trial = study.ask()
    space.suggest_optuna(trial)  # the same distributions: compatible in one study
    assert set(space.optuna_distributions()) == set(space.names)


@pytest.mark.parametrize("name", NAMES)
def test_keras_tuner_defaults_and_random_draws_stay_inside(name):
    space = load_space(name)
    hp = keras_tuner.HyperParameters()
    assert space.keras_tuner_values(hp) == space.defaults()
    assert {h.name for h in hp.space} == set(space.names)
    optimizers = set()
    for seed in range(40):
        draw = keras_tuner.HyperParameters()
        space.keras_tuner_values(draw)
        for h in draw.space:
            draw.values[h.name] = h.random_sample(seed * 101 + len(h.name))
        values = space.keras_tuner_values(draw)
        _check_inside(space, values)
        optimizers.add(values["optimizer"])
    assert "sgd" in optimizers and len(optimizers) > 1


def test_keras_tuner_conditional_scope_is_used():
    space = load_space("split")
    hp = keras_tuner.HyperParameters()
    space.keras_tuner_values(hp)
    conds = [h for h in hp.space if h.name == "momentum"][0].conditions
    assert [(c.name, list(c.values)) for c in conds] == [("optimizer", ["sgd"])]
    hp.values.update(optimizer="sgd", momentum=0.7)  # as an oracle fills an active parameter
    assert space.keras_tuner_values(hp)["momentum"] == pytest.approx(0.7)


# -- bad files -----------------------------------------------------------------------------------

GOOD = """\
name: tiny
model: audio_mlp
description: a tiny space
max_epochs: 3
parameters:
  audio_units_1: {type: int, low: 8, high: 64, default: 16}
  optimizer: {type: choice, values: [adam, sgd], default: adam}
  momentum: {type: float, low: 0.0, high: 0.9, default: 0.5, when: {optimizer: sgd}}
  learning_rate: {type: float, low: 1e-4, high: 1.0e-2, log: true, default: 1.0e-3}
"""

BAD = {
    "unknown top-level key": (GOOD + "epochs: 3\n", "epochs"),
    "unknown parameter key": (GOOD.replace("default: 16}", "default: 16, lo: 3}"),
                              "parameters.audio_units_1.lo"),
    "low above high": (GOOD.replace("low: 8, high: 64", "low: 80, high: 64"),
                       "parameters.audio_units_1.low"),
    "default outside its range": (GOOD.replace("default: 16}", "default: 100}"),
                                  "parameters.audio_units_1.default"),
    "default not among values": (GOOD.replace("default: adam", "default: nadam"),
                                 "parameters.optimizer.default"),
    "unknown model": (GOOD.replace("model: audio_mlp", "model: resnet"), "model"),
    "wrong type of bound": (GOOD.replace("low: 8,", "low: eight,"),
                            "parameters.audio_units_1.low"),
    "float bound of an int": (GOOD.replace("low: 8,", "low: 8.5,"),
                              "parameters.audio_units_1.low"),
    "unknown parameter type": (GOOD.replace("type: int", "type: integer"),
                               "parameters.audio_units_1.type"),
    "unknown parameter name": (GOOD + "  conv_blocks: {type: int, low: 1, high: 2, default: 1}\n",
                               "parameters.conv_blocks"),
    "when names an unknown parameter": (GOOD.replace("when: {optimizer: sgd}",
                                                     "when: {solver: sgd}"),
                                        "parameters.momentum.when.solver"),
    "when names an unknown value": (GOOD.replace("when: {optimizer: sgd}",
                                                 "when: {optimizer: lbfgs}"),
                                    "parameters.momentum.when.optimizer"),
    "missing default": (GOOD.replace(", default: 16}", "}"), "parameters.audio_units_1.default"),
    "log with low 0": (GOOD.replace("low: 1e-4", "low: 0.0"), "parameters.learning_rate.low"),
    "max_epochs not an integer": (GOOD.replace("max_epochs: 3", "max_epochs: many"),
                                  "max_epochs"),
    "yaml syntax error": (GOOD.replace("default: 16}", "default: 16"), "line"),
    "duplicate key": (GOOD + "  optimizer: {type: choice, values: [sgd], default: sgd}\n",
                      "duplicate key 'optimizer'"),
    "mixed choice types": (GOOD.replace("[adam, sgd]", "[adam, 3]"),
                           "parameters.optimizer.values"),
}


def test_the_good_file_loads(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD)
    space = load_space(path)
    assert space.param("learning_rate") == Param(
        name="learning_rate", type="float", default=1e-3, low=1e-4, high=1e-2, log=True)
    assert space.defaults() == {"audio_units_1": 16, "optimizer": "adam", "learning_rate": 1e-3}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_space_files_are_refused_with_file_and_key(case, tmp_path):
    text, key = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message, message


def test_step_off_grid_is_refused(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(GOOD.replace("default: 0.5,", "default: 0.5, step: 0.3,"))
    with pytest.raises(SpaceError, match="parameters.momentum.default"):
        load_space(path)
    path.write_text(textwrap.dedent(GOOD).replace("default: 0.5,", "default: 0.4, step: 0.35,"))
    with pytest.raises(SpaceError, match="parameters.momentum.high"):
        load_space(path)
