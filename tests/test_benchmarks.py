"""The benchmark harnesses run end to end on tiny data (one trial, one epoch each)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from searchkit import tiny_space
from tinydata import write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import cache_key
import contract_check
import peers
import quality

from mmtune.cli import main


@pytest.fixture
def in_process(monkeypatch):
    """The harness's `mmtune` commands run in this process: the same command lines, without
    a TensorFlow import per command."""

    def run(*args: str) -> subprocess.CompletedProcess:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
        return subprocess.CompletedProcess(["mmtune", *args], code, out.getvalue(), err.getvalue())

    monkeypatch.setattr(quality, "_mmtune", run)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return quality.make_set(root / "data", "hard", rows=27, test=6, image_size=16), root


def test_the_linear_baseline_scores_both_parts(graded):
    data, _ = graded
    scores = quality.linear_baseline(data)
    assert set(scores) == {"val", "test"} and all(0.0 <= v <= 1.0 for v in scores.values())


# One of each code path: Keras Tuner's and Optuna's own loops with a plain fit, and mmtune's
# search (the peers' "trainer" rows are that same path with other flags).
@pytest.mark.parametrize("name", ["kt-hyperband:plain", "optuna-tpe-hb:plain", "mmtune"])
def test_peers_run_one_trial_and_are_judged_alike(graded, name, in_process):
    data, root = graded
    space = tiny_space(root)
    out = peers.run_tuner(
        name, data, str(space), trials=1, epochs=1, seed=0, work=root / "runs", judge_seeds=(1,)
    )
    assert 0.0 <= out["best_val"] <= 1.0 and 0.0 <= out["held_out"] <= 1.0
    assert len(out["retrained"]) == 1 and out["epochs_spent"] >= 1
    assert 0 <= out.get("race_epochs", 0) <= out["epochs_spent"]
    assert out["trials"] == 1, "search trials only: not the race's re-evaluations"
    assert set(out["params"]) <= {
        "conv_blocks",
        "base_filters",
        "dense_units",
        "audio_units_1",
        "audio_units_2",
        "resolution",
        "learning_rate",
        "batch_size",
    }
    assert "|" in peers.table({name: [out]})


# --equal-epochs: a peer runs trials until its epochs reach the budget, in each loop.
@pytest.mark.parametrize("name", ["kt-random:plain", "optuna-tpe-hb:plain", "kt-random:trainer"])
def test_a_peer_given_epochs_runs_trials_until_it_has_spent_them(graded, name, in_process):
    data, root = graded
    out = peers.run_tuner(
        name,
        data,
        str(tiny_space(root)),
        trials=1,
        epochs=1,
        seed=0,
        work=root / "budget-runs",
        judge_seeds=(1,),
        budget=3,
    )
    assert out["epochs_spent"] == 3 and out["trials"] >= 3 and out["epoch_budget"] == 3
    assert "equal total epochs" in peers.table({name: [out]}, equal_epochs=True)


def test_a_budget_is_mmtunes_total_or_a_share_of_it():
    assert peers.budget_for("kt-random:plain", None) is None
    assert peers.budget_for("mmtune", 40) is None
    assert peers.budget_for("kt-random:trainer", 40) == 40
    assert peers.budget_for("mmtune@0.5", 41) == 20


def test_every_tuner_has_a_row():
    names = peers.tuner_names()
    assert names[-1] == "mmtune" and len(names) == 7
    assert {n.split(":")[0] for n in names[:-1]} == set(peers.PEERS)


def test_the_portfolio_harness_measures_candidates_and_builds_greedily(graded):
    import portfolio

    data, root = graded
    rows = portfolio.measure(
        data, str(tiny_space(root)), epochs=1, seeds=(0,), candidates=[{}, {"dense_units": 16}]
    )
    assert [r["candidate"] for r in rows] == [0, 1]
    assert all(len(r["scores"]) == 1 and 0.0 <= r["scores"][0] <= 1.0 for r in rows)
    # Greedy on known figures: 2 adds most to the seed's network (0); then 1, which is poor on
    # average but best on the first seed, where 2 is weakest.
    results = {
        "a": [{"scores": [0.5, 0.5]}, {"scores": [0.9, 0.1]}, {"scores": [0.6, 0.9]}],
        "b": [{"scores": [0.5, 0.5]}, {"scores": [0.9, 0.1]}, {"scores": [0.6, 0.9]}],
    }
    assert portfolio.greedy_portfolio(results, size=3) == [0, 2, 1]
    assert portfolio.greedy_portfolio(results, size=1) == [0]


def test_the_small_data_harness_scores_a_search_trial_and_a_seed_averaged_refit(graded):
    import small_data

    from mmtune.search.space_files import load_space

    data, root = graded
    space = load_space(str(tiny_space(root)))
    named = small_data.candidates(space, None)
    assert list(named) == ["seed's network"], "the tiny space has no portfolio nor their knobs"
    got = small_data.measure(data, space.model, named["seed's network"], 1, [0, 1])
    assert len(got["val"]) == len(got["held_out_each"]) == 2
    assert all(0.0 <= v <= 1.0 for v in [*got["val"], *got["held_out_each"]])
    assert 0.0 <= got["held_out_seed_avg"] <= 1.0
    direct_mix = small_data.candidates(load_space("direct_mix"), None)
    assert "portfolio 1" in direct_mix and "small-32px-aug" in direct_mix


def test_earlier_runs_are_found_by_tuner_and_seed(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"mmtune": [{"seed": 0, "epochs_spent": 30}]}))
    second.write_text(json.dumps({"mmtune": [{"seed": 1, "epochs_spent": 31}], "x": []}))
    runs = peers.measured([str(first), str(second)])
    assert runs == {
        ("mmtune", 0): {"seed": 0, "epochs_spent": 30},
        ("mmtune", 1): {"seed": 1, "epochs_spent": 31},
    }


def test_a_reused_run_must_have_been_made_with_the_same_settings_and_budget():
    import argparse

    args = argparse.Namespace(
        set="hard", rows=1000, test=300, image_size=64, space="direct_mix", trials=10, epochs=6
    )
    settings = peers.run_settings(args)
    assert settings["set"] == "hard" and settings["image_size"] == 64
    same = {"epoch_budget": 31, "settings": dict(settings)}
    assert peers.reuse_problem(same, 31, settings) is None
    assert "budget 31, not 40" in peers.reuse_problem(same, 40, settings)
    other = {"epoch_budget": 31, "settings": {**settings, "rows": 300, "set": "medium"}}
    problem = peers.reuse_problem(other, 31, settings)
    assert "rows 300 (now 1000)" in problem and "set 'medium' (now 'hard')" in problem
    assert peers.reuse_problem({"epoch_budget": None}, None, settings) is None, (
        "a run from before settings were recorded is taken on trust"
    )


def test_the_seeds_table_gathers_each_tuners_runs_across_files(tmp_path):
    def run(seed, held_out, epochs=30):
        return {"seed": seed, "held_out": held_out, "retrained": [0.9, 0.8], "epochs_spent": epochs}

    first, second = tmp_path / "s0.json", tmp_path / "s1.json"
    first.write_text(json.dumps({"kt-random:trainer": [run(0, 0.5)], "mmtune": [run(0, 0.9)]}))
    second.write_text(json.dumps({"mmtune": [run(1, 0.7, 40)]}))
    lines = peers.seeds_table(peers.measured([str(first), str(second)])).splitlines()
    assert lines[0].startswith("| tuner | held-out, seed 0 | held-out, seed 1 | held-out, mean")
    assert lines[2] == "| mmtune | 0.900 | 0.700 | 0.800 ± 0.141 (2 seeds) | 0.850 | 35 |"
    assert lines[3] == "| kt-random:trainer | 0.500 | - | 0.500 ± 0.000 (1 seeds) | 0.850 | 30 |"


def test_runs_of_two_sets_are_not_gathered_into_one_table(tmp_path):
    """The hard and the medium set both have a search seed 0: a table of both files would
    have shown one set's figure under the other's name, so the files are refused."""

    def run(held_out, settings=None):
        out = {"seed": 0, "held_out": held_out, "retrained": [0.9], "epochs_spent": 30}
        return out if settings is None else {**out, "settings": settings}

    hard, medium, again = tmp_path / "hard.json", tmp_path / "medium.json", tmp_path / "c.json"
    hard.write_text(json.dumps({"mmtune": [run(0.97)]}))
    medium.write_text(json.dumps({"mmtune": [run(0.98)]}))
    again.write_text(json.dumps({"mmtune": [run(0.97)], "kt-random:trainer": [run(0.9)]}))
    with pytest.raises(SystemExit, match=r"hard\.json and .*medium\.json both hold mmtune"):
        peers.measured([str(hard), str(medium)])
    assert len(peers.measured([str(hard), str(again)])) == 2, "the same run met twice is one"

    first, second = tmp_path / "s0.json", tmp_path / "s1.json"
    first.write_text(json.dumps({"mmtune": [run(0.9, {"set": "hard", "rows": 1000})]}))
    second.write_text(
        json.dumps({"kt-random:trainer": [run(0.8, {"set": "medium", "rows": 1000})]})
    )
    with pytest.raises(SystemExit, match=r"other settings \(set\)"):
        peers.measured([str(first), str(second)])


def test_the_contract_check_benchmark_times_the_check_against_a_plain_read(monkeypatch, capsys):
    argv = ["contract_check.py", "--rows", "30", "--test", "5", "--mfcc", "4", "--repeats", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    contract_check.main()
    out = capsys.readouterr().out
    assert "30 + 5 rows of 4 MFCC" in out and "the check costs" in out


def test_the_cache_key_benchmark_times_hashing_against_decoding(tmp_path, monkeypatch, capsys):
    write_dataset(tmp_path / "data", n_train=6, n_test=2, n_mfcc=4, n_classes=2, size=32)
    argv = ["cache_key.py", "--data", str(tmp_path / "data"), "--repeats", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    cache_key.main()
    out = capsys.readouterr().out
    assert "8 pictures" in out and "hashing costs" in out
