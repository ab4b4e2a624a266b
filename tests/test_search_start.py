"""Where a search starts and what it counts: the portfolio, --warm-start, and configurations
refused before training, which do not take a place in --trials."""

from __future__ import annotations

import pytest
from searchkit import search_argv, tiny_data, tiny_space

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
            search_argv(
                space,
                data,
                results,
                "--finalists",
                "0",
                "--trials",
                "2",
                "--max-params",
                "3000",
                "--max-cost",
                "0",
            )
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
    common = search_argv(space, data, results, "--finalists", "0", "--max-cost", "0")
    assert main([*common, "--trials", "3", "--study", "first"]) == 0
    first = _trials(results, "first")
    defaults = load_space(space).defaults()
    assert first[0].params == defaults
    assert first[1].params == {**defaults, "learning_rate": 5.0e-3}
    best = max((t for t in first if t.state.name == "COMPLETE"), key=lambda t: (t.value, -t.number))
    assert main([*common, "--trials", "3", "--study", "second", "--warm-start", "first"]) == 0
    second = _trials(results, "second")
    assert second[0].params == defaults and second[1].params == first[1].params
    assert best.params in [t.params for t in second], "the earlier study's best is tried"


def test_warm_start_is_refused_for_keras_tuner_and_unknown_studies(data, tmp_path, capsys):
    space = tiny_space(tmp_path)
    args = search_argv(space, data, tmp_path, "--trials", "1", "--warm-start")
    assert main([*args, "nope", "--tuner", "random"]) == 2
    assert "--tuner tpe" in capsys.readouterr().err
    assert main([*args, "nope"]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err


PORTFOLIO = """configurations:
  - {dense_units: 12}
  - {dense_units: 16}
  - {batch_size: 16}
  - {audio_units_1: 12}
"""


def test_starting_points_a_finished_search_did_not_need_stay_out_of_every_view(
    data, tmp_path, capsys
):
    """Issue 29: --trials 2 with five starting points leaves three queued (WAITING): the
    leaderboard (every format), a trial's record and the report show the two that ran; a
    search resumed with more --trials runs the queued ones."""
    import json

    space = tiny_space(tmp_path)
    (tmp_path / "tiny.portfolio.yaml").write_text(PORTFOLIO)
    results = tmp_path / "results"
    common = search_argv(
        space, data, results, "--finalists", "0", "--max-cost", "0", "--pruner", "none"
    )
    assert main([*common, "--trials", "2"]) == 0
    states = [t.state.name for t in _trials(results, "tiny")]
    assert states == ["COMPLETE", "COMPLETE", "WAITING", "WAITING", "WAITING"]
    capsys.readouterr()

    def shown(fmt):
        assert main(["results", "--results", str(results), "--format", fmt]) == 0
        return capsys.readouterr().out

    table = shown("table").splitlines()
    assert len(table) == 3 and "WAITING" not in "\n".join(table)
    assert sorted(r["trial"] for r in json.loads(shown("json"))) == [0, 1]
    assert len(shown("csv").splitlines()) == 3 and "WAITING" not in shown("csv")
    assert len(shown("markdown").splitlines()) == 4 and "WAITING" not in shown("markdown")
    assert main(["results", "--results", str(results), "--trial", "3"]) == 2
    assert "no trial 3 that ran" in capsys.readouterr().err
    assert main(["report", "--results", str(results)]) == 0
    page = (results / "tiny" / "report" / "report.html").read_text()
    assert "2 (2 complete)" in page and "waiting" not in page.lower()

    assert main([*common, "--trials", "4"]) == 0
    trials = _trials(results, "tiny")
    defaults = load_space(space).defaults()
    assert (
        trials[2].params == {**defaults, "dense_units": 16} and trials[2].state.name == "COMPLETE"
    )
    assert [t.state.name for t in trials].count("WAITING") == 1
