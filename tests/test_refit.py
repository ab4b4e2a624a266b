"""`mmtune refit` and `mmtune predict` end to end on tiny data."""

from __future__ import annotations

import csv
import json
import os

import pytest
from searchkit import tiny_data, tiny_space

from mmtune.cli import main
from mmtune.ledger.store import Ledger


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("refit")
    data = tiny_data(root / "data")
    results = root / "results"
    # --max-cost 0: no configuration is skipped untrained, so all three trials complete.
    assert (
        main(
            [
                "search",
                "--finalists",
                "0",
                "--space",
                str(tiny_space(root)),
                "--trials",
                "3",
                "--data",
                str(data),
                "--results",
                str(results),
                "--tuner",
                "random",
                "--max-cost",
                "0",
            ]
        )
        == 0
    )
    study = Ledger(results).load_study("tiny")[0]
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    return {"data": data, "results": results, "root": root}


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_refit_then_predict_end_to_end(searched, tmp_path, capsys):
    results = searched["results"]
    assert main(["refit", "--best", "--results", str(results)]) == 0
    out, err = capsys.readouterr()
    refit_dir = results / "tiny" / "refit"
    assert "honest check" in out and str(refit_dir / "submission.csv") in out
    rows = _rows(refit_dir / "submission.csv")
    assert rows[0] == ["id", "CLASS"]
    assert [int(r[0]) for r in rows[1:]] == list(range(9)), "one row per test row, in order"
    assert all(0 <= int(r[1]) < 3 for r in rows[1:])

    record = json.loads((refit_dir / "refit.json").read_text())
    # By default three seeds of the winner, averaged in the one model.keras that predict reads.
    assert [m["seed"] for m in record["members"]] == [0, 1, 2]
    assert {m["model_file"] for m in record["members"]} == {"model.keras"}
    assert record["ensemble"] == "mean of class probabilities"
    assert "model.keras averages the class probabilities of the 3 members" in err
    assert "seeds 0, 1, 2: 1 epochs, honest check" in out and out.count("model.keras") == 1
    member = record["members"][0]
    assert member["check_val_accuracy"] is not None and member["search_val_accuracy"] is not None
    assert member["epochs"] == 1 and record["test_rows"] == 9
    assert {"tensorflow", "keras", "optuna"} <= set(record["versions"])
    assert len(record["data_hash"]) == 64

    out_file = tmp_path / "predicted.csv"
    assert (
        main(
            [
                "predict",
                "--model",
                str(refit_dir / "model.keras"),
                "--data",
                str(searched["data"]),
                "--out",
                str(out_file),
            ]
        )
        == 0
    )
    assert out_file.read_text() == (refit_dir / "submission.csv").read_text()

    probs = tmp_path / "probs.csv"
    assert (
        main(
            [
                "predict",
                "--model",
                str(refit_dir / "model.keras"),
                "--data",
                str(searched["data"]),
                "--out",
                str(probs),
                "--probabilities",
            ]
        )
        == 0
    )
    prob_rows = _rows(probs)
    names = (searched["data"] / "class_names.txt").read_text().split()
    assert prob_rows[0] == ["id", *names]
    for row in prob_rows[1:]:
        assert abs(sum(float(v) for v in row[1:]) - 1.0) < 1e-3


def _reordered_copy(data, out, rename=None):
    """``data`` with both CSVs' MFCC columns in reverse order (each value moved with its
    column), pictures linked; ``rename``: {old: new} column names."""
    import shutil

    shutil.copytree(data, out)
    for name in ("data_train.csv", "data_test_novt.csv"):
        rows = _rows(out / name)
        mfcc = [i for i, c in enumerate(rows[0]) if c.startswith("mfcc_")]
        order = [i for i in range(len(rows[0])) if i not in mfcc]
        order[1:1] = mfcc[::-1]
        rows = [[row[i] for i in order] for row in rows]
        rows[0] = [(rename or {}).get(c, c) for c in rows[0]]
        (out / name).write_text("\n".join(",".join(r) for r in rows) + "\n")
    return out


def test_predict_matches_mfcc_columns_by_name_with_what_the_model_was_trained_on(
    searched, tmp_path, capsys
):
    """Issue 29: the same values in another column order give the same probabilities; other
    columns than the model's are refused, naming them."""
    results = searched["results"]
    assert main(["refit", "--best", "--no-check", "--seeds", "1", "--results", str(results)]) == 0
    model = results / "tiny" / "refit" / "model.keras"
    capsys.readouterr()

    def predict(data, out):
        argv = ["predict", "--model", str(model), "--data", str(data), "--out", str(out)]
        code = main([*argv, "--probabilities"])
        return code, capsys.readouterr().err

    assert predict(searched["data"], tmp_path / "same.csv")[0] == 0
    code, err = predict(_reordered_copy(searched["data"], tmp_path / "rev"), tmp_path / "rev.csv")
    assert code == 0, err
    assert "another order than the model was trained on: they are matched by name" in err
    assert _rows(tmp_path / "rev.csv") == _rows(tmp_path / "same.csv")

    other = _reordered_copy(searched["data"], tmp_path / "other", {"mfcc_2": "mfcc_two"})
    code, err = predict(other, tmp_path / "other.csv")
    assert code == 2 and "Traceback" not in err
    assert "Expected the 6 MFCC columns the model was trained on" in err
    assert "missing from the data: 'mfcc_2'" in err and "not among the model's: 'mfcc_two'" in err
    assert not (tmp_path / "other.csv").exists()


def test_same_trial_and_seed_refit_twice_gives_the_same_predictions(searched, capsys, traced):
    results = searched["results"]
    sub = results / "tiny" / "refit" / "submission.csv"
    args = ["refit", "--trial", "1", "--seed", "3", "--seeds", "2", "--no-check"]
    args += ["--results", str(results)]  # two members: the seed average is deterministic too
    assert main(args) == 0
    first = sub.read_text()
    assert main(args) == 0
    assert sub.read_text() == first


def test_ensemble_names_its_members(searched):
    results = searched["results"]
    stale = results / "tiny" / "refit" / "model_1_trial9_seed0.keras"  # an earlier refit's
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"old")
    assert (
        main(["refit", "--best", "--ensemble", "2", "--no-check", "--results", str(results)]) == 0
    )
    record = json.loads((results / "tiny" / "refit" / "refit.json").read_text())
    assert len(record["members"]) == 2
    assert len({m["trial"] for m in record["members"]}) == 2
    assert record["ensemble"] == "mean of class probabilities"
    for m in record["members"]:
        assert (results / "tiny" / "refit" / m["model_file"]).is_file()
    assert not stale.exists(), "no model file of an earlier refit is left for predict to find"
    assert len(_rows(results / "tiny" / "refit" / "submission.csv")) == 10


THE_THREE = ("model.keras", "submission.csv", "refit.json")


def _files(folder):
    return {name: (folder / name).read_bytes() for name in THE_THREE}


@pytest.mark.parametrize("killed_at", ["submission.csv", "refit.json"])
def test_interrupted_refit_leaves_the_previous_refit_whole(searched, monkeypatch, killed_at):
    """Issue 29: killed after the new model is written (before the submission's rename, or
    the record's), refit/ still holds the previous model, submission and record together:
    the three files are written into a staging folder swapped in whole."""
    results = searched["results"]
    refit_dir = results / "tiny" / "refit"
    assert main(["refit", "--best", "--no-check", "--seeds", "1", "--results", str(results)]) == 0
    before = _files(refit_dir)
    real_replace = os.replace

    def crash_on_submission(src, dst):
        if str(dst).endswith(killed_at):
            raise KeyboardInterrupt  # killed just before the rename
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_submission)
    assert (
        main(
            [
                "refit",
                "--best",
                "--no-check",
                "--seeds",
                "1",
                "--seed",
                "5",
                "--results",
                str(results),
            ]
        )
        == 130
    )
    monkeypatch.undo()
    assert _files(refit_dir) == before, "the previous refit, whole"
    assert not [p for p in refit_dir.iterdir() if p.name.startswith(".tmp-")]
    assert not [p for p in refit_dir.parent.iterdir() if p.name.startswith("refit.")], "no staging"


def test_a_killed_refits_leftover_folders_are_cleaned_by_the_next(searched, capsys):
    """What a SIGKILL mid-swap leaves (a staging folder, the old folder set aside) is cleaned
    by the next refit, which then writes its three files together."""
    results = searched["results"]
    study_dir = results / "tiny"
    (study_dir / "refit.staging-dead1").mkdir(parents=True)
    (study_dir / "refit.staging-dead1" / "model.keras").write_bytes(b"half a model")
    (study_dir / "refit.old-dead2").mkdir()
    (study_dir / "refit.old-dead2" / "submission.csv").write_text("id,CLASS\n")
    argv = ["refit", "--best", "--no-check", "--seeds", "1", "--seed", "4"]
    assert main([*argv, "--results", str(results)]) == 0
    capsys.readouterr()
    assert not [p for p in study_dir.iterdir() if p.name.startswith("refit.")]
    record = json.loads((study_dir / "refit" / "refit.json").read_text())
    assert record["members"][0]["seed"] == 4 and record["test_rows"] == 9
    assert len(_rows(study_dir / "refit" / "submission.csv")) == 10


def test_a_folder_swap_killed_between_its_renames_is_made_whole_again(tmp_path):
    """Where the two folders cannot be exchanged in one step, the old one is renamed aside
    first: killed then, the next swap puts it back before anything else."""
    from mmtune.atomic import atomic_folder

    target = tmp_path / "refit"
    (tmp_path / "refit.old-abc").mkdir()
    (tmp_path / "refit.old-abc" / "submission.csv").write_text("old")
    (tmp_path / "refit.staging-def").mkdir()
    with pytest.raises(RuntimeError), atomic_folder(target):
        raise RuntimeError("a failed refit")
    assert (target / "submission.csv").read_text() == "old", "the previous folder is back"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refit"]
    with atomic_folder(target) as staging:
        (staging / "submission.csv").write_text("new")
        assert (target / "submission.csv").read_text() == "old"  # unseen until the swap
    assert (target / "submission.csv").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refit"]


def test_refit_on_other_data_is_refused_unless_forced(searched, tmp_path, capsys):
    other = tiny_data(tmp_path / "other", seed=9)
    args = [
        "refit",
        "--best",
        "--no-check",
        "--results",
        str(searched["results"]),
        "--data",
        str(other),
    ]
    assert main(args) == 2
    assert "not the data study" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0


def test_refit_without_completed_trials_or_unknown_trial(searched, capsys):
    assert main(["refit", "--trial", "42", "--results", str(searched["results"])]) == 2
    assert "no trial 42" in capsys.readouterr().err
    assert main(["predict", "--model", str(searched["root"] / "missing.keras")]) == 2
    assert "no such file" in capsys.readouterr().err


# -- the honest check acts ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def claims(tmp_path_factory):
    """A study on data whose labels were shuffled (nothing to learn: a check scores near
    chance on 8 validation rows), made by a real search, whose ledger then receives studies of
    configurations with stated figures the check can or cannot reach."""
    import numpy as np

    root = tmp_path_factory.mktemp("claims")
    data = tiny_data(root / "data")
    lines = (data / "data_train.csv").read_text().splitlines()
    labels = [line.rsplit(",", 1)[1] for line in lines[1:]]
    shuffled = np.random.default_rng(1).permutation(labels)
    (data / "data_train.csv").write_text(
        "\n".join(
            [lines[0]] + [f"{line.rsplit(',', 1)[0]},{c}" for line, c in zip(lines[1:], shuffled)]
        )
        + "\n"
    )
    results = root / "results"
    assert (
        main(
            [
                "search",
                "--finalists",
                "0",
                "--space",
                str(tiny_space(root)),
                "--trials",
                "1",
                "--data",
                str(data),
                "--results",
                str(results),
                "--max-cost",
                "0",
            ]
        )
        == 0
    )
    return results


def _study_of_claims(results, name, figures, val_rows=None):
    """A study named ``name`` holding one completed trial per figure (1 epoch each, judged on
    the validation rows ``val_rows`` gives for each: by default 10,000, so the check's
    tolerance is its floor of 2 points; on 1 row it is 2, so any check holds)."""
    import optuna

    ledger = Ledger(results)
    searched = ledger.load_study("tiny")[0]
    study = optuna.create_study(study_name=name, storage=ledger.storage(), direction="maximize")
    for key, value in searched.user_attrs.items():
        study.set_user_attr(key, value)
    base = searched.trials[0]
    for figure, rows in zip(figures, val_rows or [10_000] * len(figures)):
        study.add_trial(
            optuna.trial.create_trial(
                value=figure,
                params=base.params,
                distributions=base.distributions,
                intermediate_values={1: figure},
                user_attrs={"best_epoch": 1, "epochs": 1, "val_rows": rows},
            )
        )


def test_a_check_that_falls_moves_to_the_next_configuration_and_says_so(claims, capsys):
    _study_of_claims(claims, "moves", [1.0, 0.9], val_rows=[10_000, 1])
    assert (
        main(["refit", "--best", "--seeds", "1", "--study", "moves", "--results", str(claims)]) == 0
    )
    captured = capsys.readouterr()
    assert "honest check, trial 0" in captured.err and "FALLS" in captured.err
    assert "trying trial 1" in captured.err
    record = json.loads((claims / "moves" / "refit" / "refit.json").read_text())
    assert [m["trial"] for m in record["members"]] == [1] and record["members"][0]["check_holds"]
    assert [m["trial"] for m in record["rejected_by_check"]] == [0]
    assert record["warning"] is None and "WARNING" not in captured.out
    fell, held = record["rejected_by_check"][0], record["members"][0]
    # One falling draw is not a verdict: a second seed, then their mean; the seeds are ones no
    # evaluation of the configuration used (these trials recorded none: above the number).
    assert fell["check_seeds"] == [1, 2] and len(fell["check_draws"]) == 2
    assert fell["check_val_accuracy"] == pytest.approx(sum(fell["check_draws"]) / 2)
    assert "then" in captured.err and "mean" in captured.err
    assert held["check_seeds"] == [2] and len(held["check_draws"]) == 1, "a draw that holds"


def test_a_configuration_claiming_less_than_a_fallen_ones_check_is_not_tried(claims, capsys):
    """The leader's check falls, but it is a fresh measurement: trial 1 claims 0.0, which the
    leader's check already reaches, so refit keeps the leader (with the warning) instead of
    training trial 1 and submitting a configuration measured lower."""
    _study_of_claims(claims, "claims-less", [1.0, 0.0])
    argv = ["refit", "--best", "--seeds", "1", "--study", "claims-less"]
    assert main([*argv, "--results", str(claims)]) == 0
    captured = capsys.readouterr()
    assert "FALLS" in captured.err and "honest check, trial 1" not in captured.err
    assert "trial 1, the next on the leaderboard, claims 0.0000: no more than the check of" in (
        captured.err
    )
    record = json.loads((claims / "claims-less" / "refit" / "refit.json").read_text())
    assert [m["trial"] for m in record["members"]] == [0] and record["rejected_by_check"] == []
    assert record["warning"] and "WARNING" in captured.out


def test_when_no_configuration_holds_the_submission_carries_a_warning(claims, capsys):
    _study_of_claims(claims, "none-holds", [1.0, 0.995])
    assert (
        main(["refit", "--best", "--seeds", "1", "--study", "none-holds", "--results", str(claims)])
        == 0
    )
    captured = capsys.readouterr()
    record = json.loads((claims / "none-holds" / "refit" / "refit.json").read_text())
    assert record["warning"] and "WARNING" in captured.out
    assert len(record["members"]) == 1 and len(record["rejected_by_check"]) == 1
    checks = [m["check_val_accuracy"] for m in record["members"] + record["rejected_by_check"]]
    assert record["members"][0]["check_val_accuracy"] == max(checks), "the best check is kept"
    assert (claims / "none-holds" / "refit" / "submission.csv").is_file()


def test_refit_ranks_by_the_mean_of_evaluations(claims, capsys):
    """A configuration with one lucky run ranks below one whose evaluations agree."""
    import optuna

    _study_of_claims(claims, "means", [0.9, 0.8])
    ledger = Ledger(claims)
    study = ledger.load_study("means")[0]
    lucky, steady = study.trials
    for value, target in ((0.2, lucky), (0.8, steady)):  # a re-evaluation of each
        study.add_trial(
            optuna.trial.create_trial(
                value=value,
                params=target.params,
                distributions=target.distributions,
                user_attrs={"best_epoch": 1, "epochs": 1, "evaluates": target.number, "seed": 1000},
            )
        )
    assert main(["results", "--study", "means", "--results", str(claims), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["trial"], r["val_accuracy"], r["evals"]) for r in rows] == [
        (1, 0.8, 2),
        (0, 0.55, 2),
    ]
    from mmtune.refit.run import choose_members

    assert [m.trial for m in choose_members(study, None, 1, 1, 0)] == [1]
    assert [m.trial for m in choose_members(study, 3, 1, 1, 0)] == [1], (
        "a re-evaluation's number names the configuration it repeats"
    )


def test_refit_json_states_the_epoch_rule_refit_followed(claims, capsys):
    """Evaluations that peaked at epochs 1, 3 and 2: refit trains 3 (the latest; the median
    would be 2), and refit.json's rule says so in words (it once still named the median)."""
    import optuna

    _study_of_claims(claims, "rule", [0.9])
    study = Ledger(claims).load_study("rule")[0]
    (first,) = study.trials
    for best in (3, 2):
        study.add_trial(
            optuna.trial.create_trial(
                value=0.9,
                params=first.params,
                distributions=first.distributions,
                user_attrs={"best_epoch": best, "epochs": 3, "evaluates": 0, "seed": 1000 + best},
            )
        )
    args = ["refit", "--best", "--seeds", "1", "--no-check", "--study", "rule"]
    assert main([*args, "--results", str(claims)]) == 0
    record = json.loads((claims / "rule" / "refit" / "refit.json").read_text())
    assert record["members"][0]["epochs"] == 3
    assert "latest best epoch" in record["rule"] and "median" not in record["rule"]
