"""Search space files: loading, validation, and sampling through Optuna and Keras Tuner."""

from __future__ import annotations

import textwrap

import keras_tuner
import optuna
import pytest

from mmtune.errors import SpaceError
from mmtune.locations import builtin_spaces_dir
from mmtune.model.networks import MODEL_INPUTS, SEED_PARAMS
from mmtune.search.space_files import list_spaces, load_space
from mmtune.search.spaces import Param, Space

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
    assert "bn_momentum" not in space.names
    # Every seed parameter is searched but BatchNorm's momentum: the trainer recomputes the
    # statistics before each validation, so it no longer changes what a trial measures.
    assert set(defaults) == set(SEED_PARAMS[name]) - {"bn_momentum"}
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
                p.type, type(p.default)
            ), (p.name, value)


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
    study.add_trial(
        optuna.trial.create_trial(
            params=params, distributions=space.optuna_distributions(params), value=0.9
        )
    )
    trial = study.ask()
    values = space.suggest_optuna(trial)  # sampled by Optuna from the recorded trial's space
    recorded = study.trials[0].distributions
    for name, dist in trial.distributions.items():
        assert recorded.get(name, dist) == dist, f"{name}: one study, one distribution"
    for name, dist in space.optuna_distributions().items():
        p = space.param(name)
        if p.choices is not None:
            assert list(dist.choices) == list(p.choices), name
        else:
            assert (dist.low, dist.high, dist.log) == (p.low, p.high, p.log), name
            assert dist.step == (p.step or (1 if p.type == "int" else None)), name
    assert all(space.param(k).contains(v) for k, v in values.items())


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

CNN = """\
name: cnn
model: image_cnn
parameters:
  conv_blocks: {type: int, low: 1, high: 3, default: 2}
  dropout_start: {type: float, low: 0.0, high: 0.5, default: 0.2}
  dropout_step: {type: float, low: 0.0, high: 0.2, default: 0.1}
  resolution: {type: choice, values: [32, 64], default: 32}
"""

BAD = {
    "unknown top-level key": (GOOD + "epochs: 3\n", "epochs"),
    "unknown parameter key": (
        GOOD.replace("default: 16}", "default: 16, lo: 3}"),
        "parameters.audio_units_1.lo",
    ),
    "low above high": (
        GOOD.replace("low: 8, high: 64", "low: 80, high: 64"),
        "parameters.audio_units_1.low",
    ),
    "default outside its range": (
        GOOD.replace("default: 16}", "default: 100}"),
        "parameters.audio_units_1.default",
    ),
    "default not among values": (
        GOOD.replace("default: adam", "default: nadam"),
        "parameters.optimizer.default",
    ),
    "unknown model": (GOOD.replace("model: audio_mlp", "model: resnet"), "model"),
    "wrong type of bound": (GOOD.replace("low: 8,", "low: eight,"), "parameters.audio_units_1.low"),
    "float bound of an int": (GOOD.replace("low: 8,", "low: 8.5,"), "parameters.audio_units_1.low"),
    "unknown parameter type": (
        GOOD.replace("type: int", "type: integer"),
        "parameters.audio_units_1.type",
    ),
    "unknown parameter name": (
        GOOD + "  conv_blocks: {type: int, low: 1, high: 2, default: 1}\n",
        "parameters.conv_blocks",
    ),
    "when names an unknown parameter": (
        GOOD.replace("when: {optimizer: sgd}", "when: {solver: sgd}"),
        "parameters.momentum.when.solver",
    ),
    "when names an unknown value": (
        GOOD.replace("when: {optimizer: sgd}", "when: {optimizer: lbfgs}"),
        "parameters.momentum.when.optimizer",
    ),
    "missing default": (GOOD.replace(", default: 16}", "}"), "parameters.audio_units_1.default"),
    "log with low 0": (GOOD.replace("low: 1e-4", "low: 0.0"), "parameters.learning_rate.low"),
    "max_epochs not an integer": (GOOD.replace("max_epochs: 3", "max_epochs: many"), "max_epochs"),
    "yaml syntax error": (GOOD.replace("default: 16}", "default: 16"), "line"),
    "duplicate key": (
        GOOD + "  optimizer: {type: choice, values: [sgd], default: sgd}\n",
        "duplicate key 'optimizer'",
    ),
    "mixed choice types": (GOOD.replace("[adam, sgd]", "[adam, 3]"), "parameters.optimizer.values"),
    # bounds of known parameters (issue 13, item 13)
    "learning rate 1e-300": (
        GOOD.replace("low: 1e-4", "low: 1.0e-300"),
        "parameters.learning_rate.low",
    ),
    "learning rate 1e300": (
        GOOD.replace("high: 1.0e-2", "high: 1.0e+300"),
        "parameters.learning_rate.high",
    ),
    "unknown optimizer": (
        GOOD.replace("[adam, sgd]", "[adam, lbfgs]"),
        "parameters.optimizer.values",
    ),
    "momentum of 1": (
        GOOD.replace("high: 0.9, default: 0.5", "high: 1.0, default: 0.5"),
        "parameters.momentum.high",
    ),
    "zero audio units": (
        GOOD.replace("low: 8, high: 64", "low: 0, high: 64"),
        "parameters.audio_units_1.low",
    ),
    "negative dropout": (
        CNN.replace(
            "dropout_start: {type: float, low: 0.0", "dropout_start: {type: float, low: -0.2"
        ),
        "parameters.dropout_start.low",
    ),
    "dropout above 1": (
        CNN.replace("high: 0.5, default: 0.2", "high: 1.5, default: 0.2"),
        "parameters.dropout_start.high",
    ),
    "dropout of 1": (
        CNN.replace("high: 0.5, default: 0.2", "high: 1.0, default: 0.2"),
        "parameters.dropout_start.high",
    ),
    "a million conv blocks": (
        CNN.replace("low: 1, high: 3", "low: 1, high: 1000000"),
        "parameters.conv_blocks.high",
    ),
    "float conv blocks": (
        CNN.replace("conv_blocks: {type: int", "conv_blocks: {type: float"),
        "parameters.conv_blocks.type",
    ),
    "resolution 100000": (CNN.replace("[32, 64]", "[32, 100000]"), "parameters.resolution.values"),
    "defaults: more blocks than the resolution halves": (
        CNN.replace("low: 1, high: 3, default: 2", "low: 1, high: 6, default: 6"),
        "conv_blocks=6 halves a 32x32 picture",
    ),
    "defaults: last block's dropout above 1": (
        CNN.replace("high: 0.2, default: 0.1", "high: 0.9, default: 0.9"),
        "dropout of conv block 2",
    ),
    # YAML that expands, nests or echoes without bound (issue 13, item 8)
    "an anchor": (
        GOOD.replace("description: a tiny space", "description: &d a tiny space"),
        "anchors and aliases are not allowed",
    ),
    "an alias": (
        GOOD.replace(
            "  optimizer: {type: choice, values: [adam, sgd], default: adam}",
            "  optimizer: &o {type: choice, values: [adam, sgd], default: adam}",
        )
        + "  batch_size: *o\n",
        "not allowed",
    ),
    "a merge key": (
        GOOD.replace(
            "  audio_units_1: {type: int, low: 8, high: 64, default: 16}",
            "  audio_units_1: &u {type: int, low: 8, high: 64, default: 16}\n"
            "  audio_units_2: {<<: *u, default: 8}",
        ),
        "not allowed",
    ),
    "nested too deeply": (
        "name: x\nmodel: audio_mlp\nparameters: " + "[" * 20000 + "]" * 20000,
        "nested too deeply",
    ),
    "an integer of 5000 digits": (
        GOOD.replace("max_epochs: 3", "max_epochs: 1" + "0" * 5000),
        "not a usable YAML value",
    ),
    "an unhashable key": (GOOD + "  ? [a, b]\n  : 1\n", "unhashable key"),
    "a file over 256 KB": (GOOD + "# " + "x" * 300_000 + "\n", "at most 256 KB"),
}


def test_the_good_file_loads(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD)
    space = load_space(path)
    assert space.param("learning_rate") == Param(
        name="learning_rate", type="float", default=1e-3, low=1e-4, high=1e-2, log=True
    )
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


def test_the_good_cnn_file_loads(tmp_path):
    path = tmp_path / "cnn.yaml"
    path.write_text(CNN)
    assert load_space(path).defaults()["conv_blocks"] == 2


def test_bounds_name_every_known_parameter():
    from mmtune.model.augment import MAX_STRENGTH
    from mmtune.search.spaces import BOUNDS

    known = {name for params in SEED_PARAMS.values() for name in params} | {"momentum"}
    assert set(BOUNDS) == known
    assert BOUNDS["augment_strength"].high == MAX_STRENGTH


def test_nested_aliases_are_refused_at_once_with_a_short_message(tmp_path):
    """The issue's 568-byte file expanded to a 691 MB message in 14 s. What the refusal may
    allocate is measured (every Python object is traced), not how long it takes."""
    import tracemalloc

    lines = ["a0: &a0 [xxxxxxxxxx, xxxxxxxxxx, xxxxxxxxxx, xxxxxxxxxx, xxxxxxxxxx]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "laughs.yaml"
    path.write_text(
        "\n".join(lines) + "\nname: x\nmodel: audio_mlp\ndescription: *a8\nparameters: {}\n"
    )
    tracemalloc.start()
    try:
        with pytest.raises(SpaceError, match="not allowed") as info:
            load_space(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"{peak / 2**20:,.1f} MB allocated for a 568-byte file"
    assert len(str(info.value)) < 500


def test_an_echoed_value_is_cut_short(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(
        GOOD.replace("[adam, sgd], default: adam", f"[adam, sgd], default: {'z' * 100_000}")
    )
    with pytest.raises(SpaceError, match="parameters.optimizer.default") as info:
        load_space(path)
    assert len(str(info.value)) < 500 and "100,000 characters" in str(info.value)


def test_a_bare_name_is_always_the_builtin_space(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "direct_mix").write_text(GOOD)  # a file named like a built-in space
    assert load_space("direct_mix").source == builtin_spaces_dir() / "direct_mix.yaml"
    (tmp_path / "mine").write_text(GOOD)
    with pytest.raises(SpaceError, match="No search space called 'mine'.*a path contains a /"):
        load_space("mine")
    assert load_space("./mine").name == "tiny"  # a path is taken as a path


@pytest.mark.parametrize("name", ["a\x00b", "x" * 5000, "..", "nope!"])
def test_odd_names_are_no_space(name):
    with pytest.raises(SpaceError, match="No search space called"):
        load_space(name)


def test_step_off_grid_is_refused(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(GOOD.replace("default: 0.5,", "default: 0.5, step: 0.3,"))
    with pytest.raises(SpaceError, match="parameters.momentum.default"):
        load_space(path)
    path.write_text(textwrap.dedent(GOOD).replace("default: 0.5,", "default: 0.4, step: 0.35,"))
    with pytest.raises(SpaceError, match="parameters.momentum.high"):
        load_space(path)
