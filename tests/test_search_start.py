"""Where a search starts and what it counts: the portfolio, --warm-start, and configurations
refused before training, which do not take a place in --trials."""

from __future__ import annotations

import pytest
from searchkit import tiny_data, tiny_space

from mmtune.cli import main
from mmtune.errors import SpaceError
from mmtune.ledger.store import Ledger
from mmtune.search.portfolio import load_portfolio, starting_points
from mmtune.search.space_files import list_spaces, load_space


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("start") / "data")


def _trials(results, name):
    return Ledger(results).load_study(name)[0].get_trials()


@pytest.mark.parametrize("space", [s.name for s in list_spaces()])
def test_every_builtin_portfolio_loads_and_lies_inside_its_space(space):
    loaded = load_space(space)
    points = load_portfolio(loaded)
    assert points, f"{space} has a portfolio"
    for point in points:
        assert set(point) <= set(loaded.names)
        assert all(loaded.param(k).contains(v) for k, v in point.items())
    assert starting_points(loaded)[0] == loaded.defaults(), "the seed's network comes first"


def test_a_portfolio_value_outside_the_space_is_refused_with_file_and_key(tmp_path):
    space = load_space(tiny_space(tmp_path))
    portfolio = tmp_path / "tiny.portfolio.yaml"
    portfolio.write_text("configurations:\n  - {conv_blocks: 9}\n")
    with pytest.raises(
        SpaceError, match=r"tiny.portfolio.yaml: configurations\[0\]: conv_blocks=9"
    ):
        load_portfolio(space)
    portfolio.write_text("configurations:\n  - {depth: 2}\n")
    with pytest.raises(SpaceError, match="'depth' is not a parameter"):
        load_portfolio(space)


def test_refused_configurations_do_not_take_a_place_in_trials(data, tmp_path, capsys):
    """The portfolio puts two configurations over --max-params right after the seed's: both
    are refused untrained, stay in the ledger, and the search still trains --trials."""
    space = tiny_space(tmp_path)
    (tmp_path / "tiny.portfolio.yaml").write_text(
        "configurations:\n  - {conv_blocks: 2, base_filters: 8, dense_units: 16}\n"
        "  - {conv_blocks: 2, base_filters: 8, dense_units: 15}\n"
    )
    results = tmp_path / "results"
    assert (
        main(
            [
                "search",
                "--finalists",
                "0",
                "--space",
                str(space),
                "--data",
                str(data),
                "--results",
                str(results),
                "--trials",
                "2",
                "--max-params",
                "3000",
                "--max-cost",
                "0",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    trials = _trials(results, "tiny")
    skipped = [t for t in trials if t.user_attrs.get("skipped")]
    trained = [t for t in trials if not t.user_attrs.get("skipped")]
    assert [t.number for t in skipped][:2] == [1, 2]
    assert all(
        t.state.name == "PRUNED" and "--max-params" in t.user_attrs["prune_reason"] for t in skipped
    )
    assert len(trained) == 2 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trained)
    assert f"{len(skipped)} configuration(s) were refused before training" in captured.err
    assert "2 trials done" in captured.out


def test_a_new_study_starts_from_the_seed_the_portfolio_then_a_warm_start(data, tmp_path):
    space = tiny_space(tmp_path)
    (tmp_path / "tiny.portfolio.yaml").write_text("configurations:\n  - {learning_rate: 5.0e-3}\n")
    results = tmp_path / "results"
    common = [
        "--finalists",
        "0",
        "--space",
        str(space),
        "--data",
        str(data),
        "--results",
        str(results),
        "--max-cost",
        "0",
    ]
    assert main(["search", *common, "--trials", "3", "--study", "first"]) == 0
    first = _trials(results, "first")
    defaults = load_space(space).defaults()
    assert first[0].params == defaults
    assert first[1].params == {**defaults, "learning_rate": 5.0e-3}
    best = max((t for t in first if t.state.name == "COMPLETE"), key=lambda t: (t.value, -t.number))
    assert (
        main(["search", *common, "--trials", "3", "--study", "second", "--warm-start", "first"])
        == 0
    )
    second = _trials(results, "second")
    assert second[0].params == defaults and second[1].params == first[1].params
    assert best.params in [t.params for t in second], "the earlier study's best is tried"


def test_warm_start_is_refused_for_keras_tuner_and_unknown_studies(data, tmp_path, capsys):
    space = tiny_space(tmp_path)
    args = [
        "search",
        "--space",
        str(space),
        "--data",
        str(data),
        "--results",
        str(tmp_path),
        "--trials",
        "1",
        "--warm-start",
    ]
    assert main([*args, "nope", "--tuner", "random"]) == 2
    assert "--tuner tpe" in capsys.readouterr().err
    assert main([*args, "nope"]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
