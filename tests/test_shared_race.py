"""Issue 29: workers side by side on one study. Work several could each start (a new study's
starting points, each re-evaluation of the finalists' race) is claimed once through the
storage; two searches started at once queue the starting points once and report the real
trial count; workers share the finalists' race, never repeat a seed for one configuration,
and all name the same best. On the real PostgreSQL server the tests start (and SQLite)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import optuna
import pytest
from searchkit import search_argv, tiny_data, tiny_space

from mmtune.cli import main
from mmtune.ledger.claims import Claims
from mmtune.ledger.records import EVALUATES
from mmtune.ledger.store import Ledger

PORTFOLIO = """configurations:
  - {dense_units: 12}
  - {dense_units: 16}
  - {batch_size: 16}
  - {audio_units_1: 12}
"""
STEADY = ("--patience", "0", "--max-cost", "0", "--pruner", "none")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("shared") / "data")


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return request.getfixturevalue("postgres_url")


def _at_once(n: int, work, before=None) -> list:
    """``work(k)`` in ``n`` threads released together (each after its ``before(k)``, whose
    result ``work`` takes as a second argument); their results (or errors, raised)."""
    start = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            ready = before(k) if before else None
            start.wait()
            results[k] = work(k, ready) if before else work(k)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_a_claim_is_taken_once_by_openers_racing_for_it(storage):
    optuna.create_study(study_name="s", storage=Ledger("unused", storage).storage())

    def take(k: int) -> bool:
        study = optuna.load_study(study_name="s", storage=Ledger("unused", storage).storage())
        return Claims(study, f"worker-{k}").take("evaluate:3:1")

    assert sorted(_at_once(6, take)) == [False] * 5 + [True]
    study = optuna.load_study(study_name="s", storage=Ledger("unused", storage).storage())
    claims = Claims(study, "someone")
    [held] = claims.held("evaluate:")
    assert held.key == "evaluate:3:1" and held.owner.startswith("worker-")
    claims.release("evaluate:3:1")  # another owner's claim: not given back by this one
    assert len(claims.held()) == 1


def test_searches_starting_at_once_on_a_new_study_queue_the_starting_points_once(
    storage, data, tmp_path
):
    """The race of prepare_search, released together: each saw the new study empty."""
    from mmtune.search.config import SearchConfig
    from mmtune.search.run import _queue_starting_points
    from mmtune.search.space_files import load_space

    space_file = tiny_space(tmp_path)
    (tmp_path / "tiny.portfolio.yaml").write_text(PORTFOLIO)
    cfg = SearchConfig(space=load_space(space_file), data_dir=data, storage=storage)
    optuna.create_study(study_name="tiny", storage=Ledger("unused", storage).storage())

    def look(k: int) -> optuna.Study:
        study = optuna.load_study(study_name="tiny", storage=Ledger("unused", storage).storage())
        assert not study.get_trials(), "every one of them sees a new, empty study"
        return study

    def start(k: int, study: optuna.Study) -> bool:
        return _queue_starting_points(study, cfg, None)

    assert sorted(_at_once(4, start, before=look)) == [False, False, False, True]
    trials = optuna.load_study(study_name="tiny", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["WAITING"] * 5, "5 starting points, once"
    queued = {tuple(sorted(t.system_attrs["fixed_params"].items())) for t in trials}
    assert len(queued) == 5


def _search(space: Path, data: Path, results: Path, storage: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mmtune",
        *search_argv(space, data, results, "--storage", storage, *STEADY, *extra),
    ]


_BEST = re.compile(r"study 'tiny': (\d+) trials done .*; best val_accuracy ([0-9.]+) \(trial (\d+)")


def test_two_searches_started_together_count_the_studys_trials(data, tmp_path, postgres_url):
    """Two processes on one new PostgreSQL study: the starting points run once each, and
    each process ends reporting the study's real count (it waits for the other's trials)."""
    space = tiny_space(tmp_path)
    (tmp_path / "tiny.portfolio.yaml").write_text(PORTFOLIO)
    cmd = _search(space, data, tmp_path / "r", postgres_url, "--trials", "6", "--finalists", "0")
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=400) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    done = [_BEST.search(out) for out, _ in outputs]
    assert all(done), outputs
    assert [int(m.group(1)) for m in done] == [6, 6], "each reports the study's 6 trials"
    trials = Ledger("unused", postgres_url).load_study("tiny")[0].get_trials()
    ran = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    params = Counter(tuple(sorted(t.params.items())) for t in trials if t.state.name != "FAIL")
    assert max(params.values()) == 1, "no starting point queued twice"
    assert len(ran) == 6 and not [t for t in trials if t.state.name == "WAITING"]


def test_workers_share_the_finalists_race_and_name_the_same_best(
    data, tmp_path, postgres_url, capfd
):
    """--workers 2 on PostgreSQL: each re-evaluation is claimed once, no configuration gets a
    seed twice, and both workers end naming the same best over the same evaluations."""
    space = tiny_space(tmp_path)
    code = main(
        search_argv(
            space,
            data,
            tmp_path / "r",
            "--storage",
            postgres_url,
            "--trials",
            "4",
            "--max-epochs",
            "6",  # re-evaluations of seconds: the other worker wakes (every second) mid-way
            "--finalists",
            "3",
            "--repeats",
            "4",
            "--heartbeat",
            "1",
            "--workers",
            "2",
            *STEADY,
        )
    )
    out, err = capfd.readouterr()
    assert code == 0, err[-3000:]
    bests = _BEST.findall(out)
    assert len(bests) == 2, out
    assert bests[0] == bests[1], f"both workers name the same best: {bests}"
    study = Ledger("unused", postgres_url).load_study("tiny")[0]
    trials = study.get_trials()
    seeds: dict[int, list[int]] = {}
    for t in trials:
        if t.state.name in ("COMPLETE", "PRUNED", "FAIL") and "seed" in t.user_attrs:
            number = t.user_attrs.get(EVALUATES, t.number)
            seeds.setdefault(int(number), []).append(int(t.user_attrs["seed"]))
    assert all(len(s) == len(set(s)) for s in seeds.values()), f"a seed used twice: {seeds}"
    reevaluations = [t for t in trials if t.user_attrs.get(EVALUATES) is not None]
    assert reevaluations, "the race ran"
    keys = Counter((t.user_attrs[EVALUATES], t.user_attrs["evaluation"]) for t in reevaluations)
    assert max(keys.values()) == 1, "each re-evaluation once"
    claims = Claims(study, "test").held("evaluate:")
    assert {c.key for c in claims} == {f"evaluate:{n}:{k}" for n, k in keys}
    owners = {t.user_attrs["owner"] for t in reevaluations}
    assert len(owners) == 2, f"both workers took part in the race: {owners}\n{out}\n{err}"


def test_two_searches_of_other_data_creating_one_study_at_once_do_not_mix(storage, tmp_path):
    """Each saw the new study without its record (space, data): one writes it, the other
    waits for it and is refused as a resume on other data is."""
    from mmtune.errors import FatalSearchError
    from mmtune.ledger.store import StudyMeta

    def meta(k: int) -> StudyMeta:
        return StudyMeta("tiny", "tiny.yaml", "direct_mix", "tpe", f"hash-{k}", f"/data/{k}", 1)

    def open_it(k: int) -> str:
        try:
            Ledger("unused", storage).open_search_study("s", meta(k), owner=f"w{k}")
        except FatalSearchError as exc:
            return str(exc)
        return "opened"

    outcomes = _at_once(2, open_it)
    assert sorted(o == "opened" for o in outcomes) == [False, True], outcomes
    assert "was searched on other data" in next(o for o in outcomes if o != "opened")
    stored = Ledger("unused", storage).load_study("s")[0].user_attrs
    assert stored["data_hash"] in ("hash-0", "hash-1")
    assert stored["data_path"] == f"/data/{stored['data_hash'][-1]}", "one record, not a mix"
