"""The ledger's records are declared once (mmtune.ledger.records) and read through that."""

from __future__ import annotations

import ast
import json
from dataclasses import asdict
from pathlib import Path

import pytest

import mmtune
from mmtune.errors import MmtuneError
from mmtune.ledger.records import RefitMember, RefitRecord, read_refit_record

PACKAGE = Path(mmtune.__file__).parent


def _record() -> RefitRecord:
    member = RefitMember(3, {"learning_rate": 0.001}, 7, 11, 0.93, check_draws=[0.91])
    member.val_confusion = [[2, 0], [1, 3]]
    return RefitRecord("tiny", "direct_mix", "the rule", [member], [], test_rows=5)


def test_a_refit_record_reads_back_as_written(tmp_path):
    path = tmp_path / "refit.json"
    path.write_text(_record().to_json())
    assert read_refit_record(path) == _record()
    assert list(json.loads(path.read_text())) == [  # refit.json's keys, in their order
        "study",
        "model",
        "rule",
        "members",
        "rejected_by_check",
        "warning",
        "ensemble",
        "data_path",
        "data_hash",
        "backend",
        "versions",
        "test_rows",
        "predicted_class_counts",
        "duration_s",
    ]


def test_an_older_or_newer_record_reads_with_defaults_and_without_unknown_keys(tmp_path):
    raw = json.loads(_record().to_json())
    del raw["members"][0]["val_confusion"], raw["duration_s"]
    raw["members"][0]["from_the_future"] = 1
    raw["also_new"] = True
    path = tmp_path / "refit.json"
    path.write_text(json.dumps(raw))
    record = read_refit_record(path)
    assert record.members[0].val_confusion is None and record.duration_s is None
    assert asdict(record.members[0])["check_draws"] == [0.91]


@pytest.mark.parametrize("text", ["[]", "{", '{"members": [{"seed": 1}]}'])
def test_a_record_that_is_none_is_one_error_naming_the_file(tmp_path, text):
    path = tmp_path / "refit.json"
    path.write_text(text)
    with pytest.raises(MmtuneError, match="cannot read the refit record"):
        read_refit_record(path)


RECEIVERS = ("user_attrs", "attrs", "meta", "stored", "record", "m")


def _literal_reads(path: Path) -> list[str]:
    """Ledger keys spelt as string literals: ``trial.set_user_attr("key", ...)``, and
    ``x.get("key")`` or ``x["key"]`` on a record (a trial's or a study's attributes, the
    refit record)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            method, target, key = node.func.attr, node.func.value, node.args[0]
            if method != "set_user_attr" and not (method == "get" and _name(target) in RECEIVERS):
                continue
        elif isinstance(node, ast.Subscript) and _name(node.value) in RECEIVERS:
            key = node.slice
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {key.value!r}")
    return found


def _name(node: ast.expr) -> str:
    return ast.unparse(node).rsplit(".", 1)[-1]


@pytest.mark.parametrize(
    "module",
    [
        "report/html.py",
        "refit/run.py",
        "search/trial.py",
        "search/reevaluate.py",
        "search/run.py",
        "search/orphans.py",
        "search/backends/optuna_backend.py",
        "search/backends/keras_tuner_backend.py",
        "ledger/store.py",
        "ledger/evaluations.py",
    ],
)
def test_ledger_keys_are_read_and_written_by_their_declared_names(module):
    assert _literal_reads(PACKAGE / module) == []
