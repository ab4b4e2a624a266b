"""What a plain ``pip install -e .`` brings: every main feature's dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _names(requirements: list[str]) -> set[str]:
    return {
        r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
        for r in requirements
    }


def test_the_report_needs_no_extra():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert "matplotlib" in _names(project["dependencies"])


def test_the_test_extra_brings_hypothesis():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert "hypothesis" in _names(project["optional-dependencies"]["test"])
