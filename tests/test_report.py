"""`mmtune report` and `mmtune dashboard`: the HTML report of a real 3-trial search and refit,
edge-case studies written straight into a ledger, a real headless browser, a real dashboard."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest
from browser import find_chromium, screenshot
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from searchkit import tiny_data, tiny_space

from mmtune.cli import main
from mmtune.data.trial_data import DataSource
from mmtune.ledger.store import Ledger, StudyMeta
from mmtune.report.html import SECTIONS

PNG = "data:image/png;base64,"


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A 3-trial TPE search, a one-seed refit of the best with its honest check, then the
    report."""
    root = tmp_path_factory.mktemp("report")
    data = tiny_data(root / "data")
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
                "3",
                "--data",
                str(data),
                "--results",
                str(results),
            ]
        )
        == 0
    )
    # One seed: the report shows the refit's check and members, not the seeds' average.
    assert main(["refit", "--best", "--seeds", "1", "--results", str(results)]) == 0
    assert main(["report", "--results", str(results)]) == 0
    page = results / "tiny" / "report" / "report.html"
    return {"results": results, "data": data, "page": page, "html": page.read_text()}


def _sections(html: str) -> dict[str, str]:
    """Each section's HTML by its heading."""
    found = re.findall(r"<section[^>]*><h2>(.*?)</h2>(.*?)</section>", html, flags=re.S)
    return {heading.replace("&#x27;", "'"): body for heading, body in found}


def _synthetic(results, states: list[str], name: str = "synth", seed: int = 0) -> optuna.Study:
    """A study written straight into a ledger: one trial per state, curves as a search writes
    them (a pruned trial cut short, a failed one with its reason). No training."""
    study = Ledger(results).open_search_study(
        name, StudyMeta("tiny", "tiny.yaml", "direct_mix", "tpe", "ab" * 32, "/data", 5)
    )
    rng = random.Random(seed)
    dists = {
        "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
        "conv_blocks": IntDistribution(1, 4),
        "optimizer": CategoricalDistribution(["adam", "sgd"]),
    }
    start = dt.datetime(2024, 1, 1)
    for i, state in enumerate(states):
        params = {
            "learning_rate": 10 ** rng.uniform(-4, -2),
            "conv_blocks": rng.randint(1, 4),
            "optimizer": rng.choice(["adam", "sgd"]),
        }
        epochs = {"COMPLETE": 5, "PRUNED": rng.randint(1, 3), "FAIL": 1}[state]
        curve = [min(1.0, rng.uniform(0.3, 0.6) + 0.06 * e) for e in range(epochs)]
        attrs = {"val_accuracy_curve": curve, "epochs": epochs, "duration_s": 10.0 + i}
        if state == "COMPLETE":
            attrs["best_epoch"] = curve.index(max(curve)) + 1
        if state == "FAIL":
            attrs["fail_reason"] = "loss became nan in epoch 1"
        trial = optuna.trial.create_trial(
            state=getattr(optuna.trial.TrialState, state),
            params=params,
            distributions=dists,
            value=max(curve) if state == "COMPLETE" else None,
            user_attrs=attrs,
            intermediate_values={e + 1: v for e, v in enumerate(curve)},
        )
        trial.datetime_start = start + dt.timedelta(seconds=30 * i)
        trial.datetime_complete = trial.datetime_start + dt.timedelta(seconds=25)
        study.add_trial(trial)
    return study


# -- the report of a real search and refit ---------------------------------------------------


def test_report_holds_the_leaderboard_and_every_plot(reported, capsys):
    html, page = reported["html"], reported["page"]
    assert page.is_file()
    sections = _sections(html)
    assert list(sections) == list(SECTIONS), "every section, in order, the refit ones included"
    table = sections["Leaderboard"]
    trials = Ledger(reported["results"]).load_study("tiny")[0].get_trials()
    rows = re.findall(r"<tr class=\"[A-Z][^\"]*\">(.*?)</tr>", table)
    numbers = [re.findall(r"<td[^>]*>(.*?)</td>", row)[1] for row in rows]
    assert sorted(int(n) for n in numbers) == [t.number for t in trials] == [0, 1, 2]
    for column in (
        "rank",
        "trial",
        "state",
        "val_accuracy",
        "best_epoch",
        "epochs",
        "duration_s",
        "params",
        "learning_rate",
        "batch_size",
    ):
        assert f">{column}</th>" in table

    images = {name: body.count(PNG) for name, body in sections.items()}
    assert images["Optimization history"] == 2, "against trial number and against wall time"
    assert images["Parameter importances"] == 1
    assert images["Parameters against validation accuracy"] >= 1
    assert images["Learning curves"] == 1
    assert images["Refit: confusion matrix on the validation part"] == 1
    assert images["Refit: honest check"] == 1
    assert html.count(PNG) == sum(images.values())
    # Self-contained: nothing fetched from anywhere.
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)
    assert "<script" not in html


def test_report_confusion_matrix_names_the_classes(reported):
    section = _sections(reported["html"])["Refit: confusion matrix on the validation part"]
    for name in ("PLACE-A", "PLACE-B", "PLACE-C"):
        assert f">{name}</td>" in section, "per-class accuracy row by class name"
    assert "Per-class accuracy" in section
    check = _sections(reported["html"])["Refit: honest check"]
    assert "check val_accuracy" in check and "search val_accuracy" in check
    assert "check draws" in check and "(seed " in check, "each draw of the check, with its seed"


def test_refit_records_the_honest_checks_validation_confusion(reported):
    record = json.loads((reported["results"] / "tiny" / "refit" / "refit.json").read_text())
    member = record["members"][0]
    counts = member["val_confusion"]
    assert member["val_class_names"] == ["PLACE-A", "PLACE-B", "PLACE-C"]
    assert len(counts) == 3 and all(len(row) == 3 for row in counts)
    _, _, labels = DataSource(reported["data"]).get(16).part("val")
    assert [sum(row) for row in counts] == [int((labels == c).sum()) for c in range(3)], (
        "rows are the true classes of the validation part"
    )
    total = sum(map(sum, counts))
    correct = sum(counts[i][i] for i in range(3))
    assert correct / total == pytest.approx(member["check_val_accuracy"], abs=1e-6), (
        "the matrix is the check model's, on the same validation part"
    )


def test_report_is_rewritten_atomically_and_names_its_study(reported, capsys):
    results = reported["results"]
    assert main(["report", "--study", "tiny", "--results", str(results)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == str(reported["page"])
    assert not [p for p in reported["page"].parent.iterdir() if p.name.startswith(".tmp-")]


def test_report_renders_in_a_real_headless_browser(reported, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (run .ci/install-system)")
    from PIL import Image

    shot = screenshot(chromium, reported["page"], tmp_path / "report.png")
    print(f"screenshot: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 500, "a rendered page has text and plots"
    most = max(colours)[0] / (image.width * image.height)
    assert most < 0.8, f"{most:.0%} of the page is one colour: blank?"
    white = sum(n for n, rgb in colours if min(rgb) > 245) / (image.width * image.height)
    assert white < 0.9, f"{white:.0%} of the page is (near) white"


# -- edge cases, no training -----------------------------------------------------------------


@pytest.mark.parametrize(
    "states, images, notes",
    [
        # history x2, slices (3 parameters: one row), learning curves
        (["COMPLETE"], 4, ["need at least 2 completed trials"]),
        (["FAIL", "FAIL"], 1, ["no completed trial yet", "need at least 2 completed trials"]),
        (["PRUNED", "FAIL"], 1, ["no completed trial yet"]),
        ([], 0, ["no trials yet", "no trial finished an epoch"]),
    ],
)
def test_report_stays_readable_for_tiny_or_failed_studies(tmp_path, capsys, states, images, notes):
    _synthetic(tmp_path, states)
    assert main(["report", "--results", str(tmp_path)]) == 0
    html = (tmp_path / "synth" / "report" / "report.html").read_text()
    sections = _sections(html)
    assert list(sections) == list(SECTIONS[:6]), "no refit: no refit sections"
    for note in notes:
        assert note in html
    assert html.count(PNG) == images
    assert "Traceback" not in capsys.readouterr().err


def test_report_of_forty_trials_marks_pruned_curves(tmp_path):
    _synthetic(tmp_path, ["COMPLETE", "COMPLETE", "PRUNED"] * 13 + ["FAIL"])
    assert main(["report", "--results", str(tmp_path)]) == 0
    html = (tmp_path / "synth" / "report" / "report.html").read_text()
    sections = _sections(html)
    assert "40 (26 complete, 13 pruned, 1 fail)" in sections["Summary"]
    assert len(re.findall(r"<tr class=", sections["Leaderboard"])) == 40
    assert sections["Parameter importances"].count(PNG) == 1
    assert "13 of them pruned" in sections["Learning curves"]


def test_report_refusals_are_one_line_errors(tmp_path, capsys, monkeypatch):
    assert main(["report", "--results", str(tmp_path)]) == 2
    assert "run `mmtune search` first" in capsys.readouterr().err
    _synthetic(tmp_path, ["COMPLETE"])
    assert main(["report", "--study", "nope", "--results", str(tmp_path)]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["report", "--results", str(tmp_path)]) == 2
    assert "pip install 'matplotlib>=3.8'" in capsys.readouterr().err


# -- the dashboard ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode("utf-8", "replace")


def test_dashboard_serves_the_study_on_loopback(tmp_path):
    pytest.importorskip(
        "optuna_dashboard",
        reason="optuna-dashboard is not installed (pip install 'mmtune[dashboard]')",
    )
    study = _synthetic(tmp_path, ["COMPLETE", "PRUNED"], name="dash-study")
    port = _free_port()
    log = (tmp_path / "dashboard.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mmtune",
            "dashboard",
            "--results",
            str(tmp_path),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        api = f"http://127.0.0.1:{port}/api/studies"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "dashboard.log").read_text()
            try:
                status, body = _get(api)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("optuna-dashboard did not answer within 30 s")
                time.sleep(0.3)
        assert status == 200 and "dash-study" in body
        printed = proc.stdout.readline() + proc.stdout.readline()
        study_id = study._study_id
        url = f"http://127.0.0.1:{port}/dashboard/studies/{study_id}"
        assert url in printed
        status, page = _get(url)
        assert status == 200 and "<html" in page.lower()
        status, detail = _get(f"http://127.0.0.1:{port}/api/studies/{study_id}?after=0")
        assert status == 200 and "dash-study" in detail
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_dashboard_without_the_extra_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)
    assert main(["dashboard", "--results", str(tmp_path)]) == 2
    assert "pip install 'mmtune[dashboard]'" in capsys.readouterr().err
