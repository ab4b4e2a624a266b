"""`mmtune search` and `mmtune results` end to end on tiny data: real Keras training, a real
SQLite ledger, both tuner families."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import optuna
import pytest
from searchkit import TINY_PARAMS, TINY_SPACE, tiny_data, tiny_space

from mmtune.cli import main
from mmtune.ledger.store import Ledger
from mmtune.ledger.val_predictions import decode


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    return {"data": tiny_data(root / "data"), "space": tiny_space(root), "root": root}


@pytest.fixture(scope="module")
def tpe_study(workdir):
    """One 3-trial TPE search, shared by the read-only tests below."""
    results = workdir["root"] / "results-tpe"
    code = main(
        [
            "search",
            "--finalists",
            "1",
            "--repeats",
            "2",
            "--space",
            str(workdir["space"]),
            "--trials",
            "3",
            "--data",
            str(workdir["data"]),
            "--results",
            str(results),
            "--tuner",
            "tpe",
        ]
    )
    assert code == 0
    return results


def _trials(results, study="tiny"):
    return Ledger(results).load_study(study)[0].get_trials()


def test_tpe_search_records_every_trial_in_the_ledger(tpe_study, workdir):
    every = _trials(tpe_study)
    trials = [t for t in every if "evaluates" not in t.user_attrs]
    assert len(trials) == 3, "re-evaluations do not count toward --trials"
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    for t in trials:
        attrs = t.user_attrs
        assert len(attrs["val_accuracy_curve"]) == attrs["epochs"] == 1
        assert 0.0 <= attrs["val_accuracy_curve"][0] <= 1.0
        assert attrs["params_count"] > 0 and attrs["duration_s"] > 0
        assert attrs["data_path"] == str(workdir["data"])
        assert len(attrs["data_hash"]) == 64
        assert t.intermediate_values == {1: attrs["val_accuracy_curve"][0]}
        assert 1e-3 <= t.params["learning_rate"] <= 1e-2
        assert attrs["seed"] == t.number and attrs["val_rows"] == 8


def test_the_best_configuration_is_reevaluated_and_ranked_by_its_mean(tpe_study, capsys):
    every = _trials(tpe_study)
    again = [t for t in every if "evaluates" in t.user_attrs]
    assert len(again) == 1 and again[0].state.name == "COMPLETE"
    target = next(t for t in every if t.number == again[0].user_attrs["evaluates"])
    assert again[0].params == target.params and again[0].user_attrs["seed"] == target.number + 1000
    assert main(["results", "--results", str(tpe_study), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3, "one row per configuration, re-evaluations folded in"
    first = next(r for r in rows if r["trial"] == target.number)
    assert first["evals"] == 2
    assert first["val_accuracy"] == pytest.approx((target.value + again[0].value) / 2, abs=1e-4)
    assert first["sd"] == pytest.approx(abs(target.value - again[0].value) / 2**0.5, abs=1e-4)
    assert all(
        r["evals"] == 1 for r in rows if r["trial"] != target.number and r["state"] == "COMPLETE"
    )
    # Both evaluations kept their validation probabilities: their average is scored.
    labels = decode(target.user_attrs["val_labels"])
    assert labels is not None and len(labels) == target.user_attrs["val_rows"]
    for t in (target, again[0]):
        probs = decode(t.user_attrs["val_probabilities"])
        assert probs is not None and probs.shape == (len(labels), 3)
        assert np.mean(probs.argmax(axis=1) == labels) == pytest.approx(t.value, abs=1e-6)
    average = np.mean([decode(t.user_attrs["val_probabilities"]) for t in (target, again[0])], 0)
    assert first["seed_avg"] == pytest.approx(np.mean(average.argmax(axis=1) == labels), abs=1e-4)
    assert all(r["seed_avg"] is None for r in rows if r["trial"] != target.number)


def test_resume_counts_trials_in_the_study(workdir, tmp_path):
    results = tmp_path / "results"
    args = [
        "search",
        "--finalists",
        "0",
        "--space",
        str(workdir["space"]),
        "--data",
        str(workdir["data"]),
        "--results",
        str(results),
    ]
    assert main(args + ["--trials", "2"]) == 0
    assert main(args + ["--trials", "3"]) == 0
    assert len(_trials(results)) == 3
    assert main(args + ["--trials", "3"]) == 0  # already full: runs nothing
    trials = _trials(results)
    assert len(trials) == 3
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 3, "resume redrew a config"


def test_keras_tuner_random_search_lands_in_the_ledger(workdir, tmp_path, capsys, traced):
    results = tmp_path / "results"
    assert (
        main(
            [
                "search",
                "--finalists",
                "0",
                "--space",
                str(workdir["space"]),
                "--trials",
                "3",
                "--data",
                str(workdir["data"]),
                "--results",
                str(results),
                "--tuner",
                "random",
            ]
        )
        == 0
    )
    trials = _trials(results)
    assert len(trials) == 3 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert any(t.state.name == "COMPLETE" for t in trials)
    assert all(t.user_attrs["tuner"] == "random" for t in trials)
    assert (results / "tiny" / "keras_tuner").is_dir()

    # The leaderboard reads the ledger only: deleting Keras Tuner's folder changes nothing.
    capsys.readouterr()
    assert main(["results", "--results", str(results), "--format", "csv"]) == 0
    before = capsys.readouterr().out
    shutil.rmtree(results / "tiny" / "keras_tuner")
    assert main(["results", "--results", str(results), "--format", "csv"]) == 0
    assert capsys.readouterr().out == before


def test_hyperband_search_runs_and_records(workdir, tmp_path):
    results = tmp_path / "results"
    space = tiny_space(tmp_path, name="hb")
    space.write_text(space.read_text().replace("max_epochs: 1", "max_epochs: 2"))
    assert (
        main(
            [
                "search",
                "--finalists",
                "0",
                "--space",
                str(space),
                "--trials",
                "2",
                "--data",
                str(workdir["data"]),
                "--results",
                str(results),
                "--tuner",
                "hyperband",
            ]
        )
        == 0
    )
    trials = _trials(results, "hb")
    assert len(trials) == 2 and all(t.user_attrs["tuner"] == "hyperband" for t in trials)


def test_a_failing_trial_is_recorded_and_the_search_goes_on(workdir, tmp_path):
    results = tmp_path / "results"
    space = tmp_path / "failing.yaml"
    # Six conv blocks cannot run on 16px pictures: those trials fail, the others complete.
    space.write_text(
        TINY_SPACE.replace("name: tiny", "name: failing").replace(
            "conv_blocks: {type: int, low: 1, high: 2, default: 1}",
            "conv_blocks: {type: choice, values: [1, 6], default: 1}",
        )
    )
    # The portfolio makes trials 1 and 2 the impossible ones, whatever the sampler draws later.
    (tmp_path / "failing.portfolio.yaml").write_text(
        "configurations:\n  - {conv_blocks: 6}\n  - {conv_blocks: 6, batch_size: 16}\n"
    )
    assert (
        main(
            [
                "search",
                "--finalists",
                "0",
                "--space",
                str(space),
                "--trials",
                "2",
                "--data",
                str(workdir["data"]),
                "--results",
                str(results),
                "--max-failures",
                "10",
            ]
        )
        == 0
    )
    trials = _trials(results, "failing")
    failed = [t for t in trials if t.state.name == "FAIL"]
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == 2, "failures are not counted toward --trials"
    assert [t.number for t in failed][:2] == [1, 2]
    assert all(t.params["conv_blocks"] == 6 for t in failed)
    assert all("block" in t.user_attrs["fail_reason"] for t in failed)


@pytest.mark.parametrize("tuner", ["tpe", "random", "hyperband"])
def test_nan_losses_fail_trials_and_a_streak_stops_the_search(
    workdir, tmp_path, capsys, tuner, monkeypatch
):
    """Every tuner stops after --max-failures failures in a row with one clear line (Keras
    Tuner catches everything but its own FatalError inside a trial).

    Space files refuse learning rates that diverge for sure, so the space is the tiny one with
    its learning rate set to 1e20..1e30 in Python, where no file's bounds apply."""
    import dataclasses

    from mmtune.search import space_files

    results = tmp_path / "results"
    space = tmp_path / "nan.yaml"
    space.write_text(
        TINY_SPACE.replace("name: tiny", "name: nan")
        + "  optimizer: {type: choice, values: [sgd], default: sgd}\n"
    )
    loaded = space_files.load_space(space)
    diverging = tuple(
        dataclasses.replace(p, low=1e20, high=1e30, default=1e25)
        if p.name == "learning_rate"
        else p
        for p in loaded.parameters
    )
    monkeypatch.setattr(
        space_files, "load_space", lambda _: dataclasses.replace(loaded, parameters=diverging)
    )
    code = main(
        [
            "search",
            "--finalists",
            "0",
            "--space",
            str(space),
            "--trials",
            "5",
            "--data",
            str(workdir["data"]),
            "--results",
            str(results),
            "--max-failures",
            "2",
            "--tuner",
            tuner,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "2 trials failed in a row" in err and "Traceback" not in err
    assert "in epoch 1 (batch " in err
    trials = _trials(results, "nan")
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert all("nan" in t.user_attrs["fail_reason"].lower() for t in trials)


def test_bad_data_stops_the_search_before_anything_is_written(workdir, tmp_path, capsys):
    data = tiny_data(tmp_path / "data")
    (data / "trainimg_00003.png").unlink()
    results = tmp_path / "results"
    code = main(
        [
            "search",
            "--finalists",
            "0",
            "--space",
            str(workdir["space"]),
            "--trials",
            "2",
            "--data",
            str(data),
            "--results",
            str(results),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "trainimg_00003.png" in err and "row 3" in err and "Traceback" not in err
    assert not results.exists()


def test_resume_on_other_data_is_refused(workdir, tpe_study, tmp_path, capsys):
    other = tiny_data(tmp_path / "other", seed=7)
    code = main(
        [
            "search",
            "--finalists",
            "0",
            "--space",
            str(workdir["space"]),
            "--trials",
            "4",
            "--data",
            str(other),
            "--results",
            str(tpe_study),
        ]
    )
    assert code == 2
    before = len(_trials(tpe_study))
    assert "other data" in capsys.readouterr().err
    assert len(_trials(tpe_study)) == before == 4, "3 search trials and 1 re-evaluation"


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "json"])
def test_every_leaderboard_format_parses_back(tpe_study, fmt, capsys):
    assert main(["results", "--results", str(tpe_study), "--format", fmt]) == 0
    captured = capsys.readouterr()
    assert "latest" in captured.err  # says which study it used
    out = captured.out
    base = [
        "rank",
        "trial",
        "state",
        "val_accuracy",
        "sd",
        "evals",
        "se",
        "seed_avg",
        "best_epoch",
        "epochs",
        "duration_s",
        "params",
    ]
    if fmt == "json":
        rows = json.loads(out)
        header = list(rows[0])
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        header = list(rows[0])
    elif fmt == "markdown":
        lines = out.strip().splitlines()
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        assert set(lines[1].replace("|", "")) == {"-"}
        rows = lines[2:]
    else:
        lines = out.strip().splitlines()
        header = lines[0].split()
        rows = lines[1:]
    assert header[: len(base)] == base
    assert {"learning_rate", "batch_size", "conv_blocks"} <= set(header[len(base) :])
    assert len(rows) == 3
    if fmt in ("json", "csv"):
        accs = [float(r["val_accuracy"]) for r in rows]
        assert accs == sorted(accs, reverse=True), "best first"
        assert [int(r["rank"]) for r in rows] == [1, 2, 3]


def test_results_top_and_one_trial(tpe_study, capsys):
    assert main(["results", "--results", str(tpe_study), "--top", "1", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["results", "--results", str(tpe_study), "--trial", "1", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["trial"] == 1 and len(record["curves"]["val_accuracy"]) == 1
    assert record["attrs"]["val_probabilities"]["shape"] == [8, 3], "json keeps the values"
    assert main(["results", "--results", str(tpe_study), "--trial", "1"]) == 0
    shown = capsys.readouterr().out
    assert "per-epoch curve" in shown
    # For people, the stored probabilities are one line, not their base64 bytes.
    assert "val_probabilities: 8 x 3 float32 (stored; --format json shows" in shown
    assert record["attrs"]["val_probabilities"]["data"] not in shown
    assert main(["results", "--results", str(tpe_study), "--trial", "99"]) == 2
    assert "no trial 99" in capsys.readouterr().err


def test_failed_and_pruned_trials_rank_after_completed_ones():
    from mmtune.ledger.leaderboard import leaderboard_rows

    study = optuna.create_study(direction="maximize")
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, params={"x": 0.1}, distributions=dist
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.PRUNED,
            params={"x": 0.2},
            distributions=dist,
            intermediate_values={1: 0.9},
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            value=0.5, params={"x": 0.3}, distributions=dist, intermediate_values={1: 0.5}
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            value=0.7, params={"x": 0.4}, distributions=dist, intermediate_values={1: 0.7}
        )
    )
    rows = leaderboard_rows(study)
    assert [(r["trial"], r["state"]) for r in rows] == [
        (3, "COMPLETE"),
        (2, "COMPLETE"),
        (1, "PRUNED"),
        (0, "FAIL"),
    ]
    assert rows[2]["val_accuracy"] == 0.9


def test_a_new_process_goes_on_counting_the_studys_streaks():
    """Recycled or resumed, a search counts the refusals and failures its study ended with;
    an interruption or a re-evaluation neither counts nor breaks a streak."""
    from optuna.trial import TrialState

    from mmtune.errors import FatalSearchError
    from mmtune.ledger.records import EVALUATES, SKIPPED
    from mmtune.search.trial import FailureStreak

    study = optuna.create_study(direction="maximize")
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}

    def add(state, **attrs):
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                params={"x": 0.5},
                distributions=dist,
                value=0.5 if state == TrialState.COMPLETE else None,
                user_attrs=attrs,
            )
        )

    add(TrialState.COMPLETE)
    add(TrialState.FAIL, fail_reason="NaN loss at epoch 2")
    add(TrialState.PRUNED, **{SKIPPED: True, "prune_reason": "above --max-params"})
    add(TrialState.FAIL, fail_reason="NaN loss at epoch 1")
    add(TrialState.COMPLETE, **{EVALUATES: 0})
    add(TrialState.FAIL, fail_reason="interrupted (Ctrl-C)")
    add(TrialState.PRUNED, **{SKIPPED: True, "prune_reason": "above --max-memory-mb"})
    add(TrialState.PRUNED, **{SKIPPED: True, "prune_reason": "above --max-memory-mb"})
    streak = FailureStreak.from_study(study, limit=3, skip_limit=3)
    assert (streak.skipped_in_a_row, streak.count) == (2, 2)
    assert streak.last_reason == "NaN loss at epoch 1"
    with pytest.raises(FatalSearchError, match="3 configurations in a row were refused"):
        streak.update(TrialState.PRUNED, "above --max-memory-mb", skipped=True)
    fresh = FailureStreak.from_study(optuna.create_study(), limit=3)
    assert (fresh.skipped_in_a_row, fresh.count) == (0, 0)


def test_a_refused_configuration_loads_no_pictures_at_its_resolution(tmp_path, _private_cache):
    """Sized on its shapes before its resolution's cache is built or opened: at the
    competition's size a 128 px cache takes a minute, for a configuration refused anyway."""
    from mmtune.data.trial_data import DataSource
    from mmtune.errors import ModelTooLarge
    from mmtune.model.training import TrainOptions
    from mmtune.search.space_files import load_space
    from mmtune.search.trial import trial_split

    space = load_space(tiny_space(tmp_path))
    source = DataSource(tiny_data(tmp_path / "data"))
    source.get(16)
    built = sorted(_private_cache.rglob("*.npy"))
    sizes: list[int] = []
    params = {**TINY_PARAMS, "resolution": 32}
    with pytest.raises(ModelTooLarge, match="above --max-params 100"):
        trial_split(
            source,
            space,
            params,
            TrainOptions(epochs=1, max_params=100),
            lambda model: sizes.append(model.count_params()),
        )
    assert sorted(_private_cache.rglob("*.npy")) == built and list(source._loaded) == [16]
    assert sizes and sizes[0] > 100  # the weightless model's size, recorded
    assert trial_split(source, space, params, TrainOptions(epochs=1)).data.resolution == 32


def test_results_without_a_ledger_says_so(tmp_path, capsys):
    assert main(["results", "--results", str(tmp_path / "none")]) == 2
    assert "run `mmtune search` first" in capsys.readouterr().err


def test_mixed_precision_and_jit_flags_train_and_record(workdir, tmp_path, traced):
    results = tmp_path / "results"
    assert (
        main(
            [
                "search",
                "--finalists",
                "0",
                "--space",
                str(workdir["space"]),
                "--trials",
                "1",
                "--data",
                str(workdir["data"]),
                "--results",
                str(results),
                "--precision",
                "mixed",
                "--jit",
                "off",
            ]
        )
        == 0
    )
    trial = _trials(results)[0]
    assert trial.state.name == "COMPLETE" and 0 <= trial.value <= 1

    import keras

    from mmtune.data.trial_data import InputSpec
    from mmtune.keras_backend import set_precision
    from mmtune.model.networks import build_model

    try:
        assert set_precision("mixed") == "mixed_bfloat16"  # no GPU here: bfloat16 on the CPU
        model = build_model(
            "direct_mix", {"resolution": 16}, InputSpec(resolution=16, n_mfcc=6, n_classes=3)
        )
        assert model.get_layer("conv1_1").compute_dtype == "bfloat16"
        assert model.output.dtype == "float32", "the softmax stays in float32"
    finally:
        set_precision("float32")
    assert keras.mixed_precision.dtype_policy().name == "float32"


@pytest.mark.parametrize(
    "flag, value, reason",
    [("--max-params", "100", "above --max-params 100"), ("--max-cost", "0.01", "above --max-cost")],
)
def test_models_over_budget_are_pruned_untrained(workdir, tmp_path, flag, value, reason, capsys):
    """Every configuration is over the budget: each is refused untrained (kept in the ledger,
    not counted toward --trials), and the search stops after --max-skips refusals in a row,
    saying why."""
    results = tmp_path / "results"
    assert (
        main(
            [
                "search",
                "--finalists",
                "0",
                "--space",
                str(workdir["space"]),
                "--trials",
                "2",
                "--data",
                str(workdir["data"]),
                "--results",
                str(results),
                flag,
                value,
                "--max-skips",
                "3",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "3 configurations in a row were refused before training" in err
    assert "Traceback" not in err
    trials = _trials(results)
    assert len(trials) == 3 and {t.state.name for t in trials} == {"PRUNED"}
    for t in trials:
        assert reason in t.user_attrs["prune_reason"] and t.user_attrs["skipped"]
        assert t.user_attrs["params_count"] > 0 and not t.intermediate_values


def test_device_resident_feed_trains_exactly_like_the_pipeline(workdir):
    """Same seed, same rows in the same order: the two feeds give the same curves."""
    from mmtune.data.trial_data import DataSource
    from mmtune.model.training import TrainOptions, train_model

    split = DataSource(workdir["data"]).get(16)
    params = dict(TINY_PARAMS)
    runs = {
        feed: train_model("direct_mix", params, split, TrainOptions(epochs=2, feed=feed), seed=3)
        for feed in ("pipeline", "device")
    }
    assert runs["device"].curves["val_accuracy"] == pytest.approx(
        runs["pipeline"].curves["val_accuracy"]
    )
    assert runs["device"].curves["loss"] == pytest.approx(runs["pipeline"].curves["loss"], rel=1e-4)
    assert runs["device"].params_count == runs["pipeline"].params_count
    full = train_model(
        "direct_mix", params, split, TrainOptions(epochs=1, feed="device"), seed=3, full=True
    )
    # refit saves the model itself, not the row-gathering wrapper
    assert {tuple(t.shape[1:]) for t in full.model.inputs} == {(16, 16, 3), (6,)}


def test_tensorboard_writes_one_run_per_trial_with_its_hparams(workdir, tmp_path):
    results = tmp_path / "results"
    assert (
        main(
            [
                "search",
                "--finalists",
                "0",
                "--space",
                str(workdir["space"]),
                "--trials",
                "2",
                "--data",
                str(workdir["data"]),
                "--results",
                str(results),
                "--tensorboard",
            ]
        )
        == 0
    )
    runs = sorted(p.name for p in (results / "tiny" / "tensorboard").iterdir())
    assert runs == ["trial_0000", "trial_0001"]
    for run in runs:
        events = list((results / "tiny" / "tensorboard" / run).rglob("events.out.tfevents.*"))
        assert events, f"no TensorBoard events in {run}"
        blob = b"".join(e.read_bytes() for e in events)
        assert b"_hparams_/session_start_info" in blob and b"learning_rate" in blob


def test_a_continued_trial_starts_from_its_parents_weights_and_epoch(workdir, tmp_path):
    """Hyperband's continuation: ``initial_weights`` are loaded before training and epochs
    are numbered from ``initial_epoch``."""
    import numpy as np

    from mmtune.data.trial_data import DataSource
    from mmtune.model.training import TrainOptions, train_model

    split = DataSource(workdir["data"]).get(16)
    params = dict(TINY_PARAMS)
    parent = train_model("direct_mix", params, split, TrainOptions(epochs=1), seed=0)
    weights = tmp_path / "parent.weights.h5"
    parent.model.save_weights(str(weights))
    loaded = train_model(
        "direct_mix",
        params,
        split,
        TrainOptions(epochs=1),
        seed=5,
        initial_epoch=1,
        initial_weights=weights,
    )
    assert loaded.epochs == 1 and not loaded.curves.get("loss"), "no epoch left to train"
    kernel = "image_dense"
    np.testing.assert_array_equal(
        loaded.model.get_layer(kernel).get_weights()[0],
        parent.model.get_layer(kernel).get_weights()[0],
    )
    epochs_seen = []
    child = train_model(
        "direct_mix",
        params,
        split,
        TrainOptions(epochs=3),
        seed=5,
        initial_epoch=1,
        initial_weights=weights,
        report=lambda epoch, logs: epochs_seen.append(epoch),
    )
    assert epochs_seen == [2, 3] and child.epochs == 3 and child.best_epoch in (2, 3)


def test_refit_states_the_seed_averages_figure_of_a_reevaluated_configuration(
    tpe_study, tmp_path, capsys
):
    """Refit averages 3 seeds; a configuration with two evaluations has the figure of such an
    average, which refit says before it trains and records."""
    results = tmp_path / "results"
    shutil.copytree(tpe_study, results)  # the shared study stays as it was
    assert main(["results", "--results", str(results), "--format", "json"]) == 0
    best = next(r for r in json.loads(capsys.readouterr().out) if r["evals"] == 2)
    assert best["seed_avg"] is not None
    trial = str(best["trial"])
    assert main(["refit", "--trial", trial, "--results", str(results)]) == 0
    err = capsys.readouterr().err
    assert f"the average of 3 seeds: expect about {best['seed_avg']:.4f}" in err
    record = json.loads((results / "tiny" / "refit" / "refit.json").read_text())
    assert record["members"][0]["search_seed_avg"] == pytest.approx(best["seed_avg"], abs=1e-4)
