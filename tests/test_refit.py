"""`mmtune refit` and `mmtune predict` end to end on tiny data."""

from __future__ import annotations

import csv
import json
import os

import pytest
from searchkit import tiny_data, tiny_space

from mmtune.cli import main
from mmtune.ledger import Ledger


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("refit")
    data = tiny_data(root / "data")
    results = root / "results"
    # --max-cost 0: no configuration is skipped untrained, so all three trials complete.
    assert main(["search", "--space", str(tiny_space(root)), "--trials", "3", "--data", str(data),
                 "--results", str(results), "--tuner", "random", "--max-cost", "0"]) == 0
    study = Ledger(results).load_study("tiny")[0]
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    return {"data": data, "results": results, "root": root}


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_refit_then_predict_end_to_end(searched, tmp_path, capsys):
    results = searched["results"]
    assert main(["refit", "--best", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    refit_dir = results / "tiny" / "refit"
    assert "honest check" in out and str(refit_dir / "submission.csv") in out
    rows = _rows(refit_dir / "submission.csv")
    assert rows[0] == ["id", "CLASS"]
    assert [int(r[0]) for r in rows[1:]] == list(range(9)), "one row per test row, in order"
    assert all(0 <= int(r[1]) < 3 for r in rows[1:])

    record = json.loads((refit_dir / "refit.json").read_text())
    member = record["members"][0]
    assert member["check_val_accuracy"] is not None and member["search_val_accuracy"] is not None
    assert member["epochs"] == 1 and record["test_rows"] == 9
    assert {"tensorflow", "keras", "optuna"} <= set(record["versions"])
    assert len(record["data_hash"]) == 64

    out_file = tmp_path / "predicted.csv"
    assert main(["predict", "--model", str(refit_dir / "model.keras"), "--data",
                 str(searched["data"]), "--out", str(out_file)]) == 0
    assert out_file.read_text() == (refit_dir / "submission.csv").read_text()

    probs = tmp_path / "probs.csv"
    assert main(["predict", "--model", str(refit_dir / "model.keras"), "--data",
                 str(searched["data"]), "--out", str(probs), "--probabilities"]) == 0
    prob_rows = _rows(probs)
    names = (searched["data"] / "class_names.txt").read_text().split()
    assert prob_rows[0] == ["id", *names]
    for row in prob_rows[1:]:
        assert abs(sum(float(v) for v in row[1:]) - 1.0) < 1e-3


def test_same_trial_and_seed_refit_twice_gives_the_same_predictions(searched, capsys):
    results = searched["results"]
    sub = results / "tiny" / "refit" / "submission.csv"
    args = ["refit", "--trial", "1", "--seed", "3", "--no-check", "--results", str(results)]
    assert main(args) == 0
    first = sub.read_text()
    assert main(args) == 0
    assert sub.read_text() == first


def test_ensemble_names_its_members(searched):
    results = searched["results"]
    assert main(["refit", "--best", "--ensemble", "2", "--no-check", "--results", str(results)]) == 0
    record = json.loads((results / "tiny" / "refit" / "refit.json").read_text())
    assert len(record["members"]) == 2
    assert len({m["trial"] for m in record["members"]}) == 2
    assert record["ensemble"] == "mean of class probabilities"
    for m in record["members"]:
        assert (results / "tiny" / "refit" / m["model_file"]).is_file()
    assert len(_rows(results / "tiny" / "refit" / "submission.csv")) == 10


def test_interrupted_refit_leaves_the_previous_submission_untouched(searched, monkeypatch):
    results = searched["results"]
    refit_dir = results / "tiny" / "refit"
    assert main(["refit", "--best", "--no-check", "--results", str(results)]) == 0
    before = (refit_dir / "submission.csv").read_bytes()
    real_replace = os.replace

    def crash_on_submission(src, dst):
        if str(dst).endswith("submission.csv"):
            raise KeyboardInterrupt  # killed just before the rename
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_submission)
    assert main(["refit", "--best", "--no-check", "--seed", "5", "--results", str(results)]) == 130
    monkeypatch.undo()
    assert (refit_dir / "submission.csv").read_bytes() == before
    assert not [p for p in refit_dir.iterdir() if p.name.startswith(".tmp-")]


def test_refit_on_other_data_is_refused_unless_forced(searched, tmp_path, capsys):
    other = tiny_data(tmp_path / "other", seed=9)
    args = ["refit", "--best", "--no-check", "--results", str(searched["results"]), "--data", str(other)]
    assert main(args) == 2
    assert "not the data study" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0


def test_refit_without_completed_trials_or_unknown_trial(searched, capsys):
    assert main(["refit", "--trial", "42", "--results", str(searched["results"])]) == 2
    assert "no trial 42" in capsys.readouterr().err
    assert main(["predict", "--model", str(searched["root"] / "missing.keras")]) == 2
    assert "no such file" in capsys.readouterr().err
