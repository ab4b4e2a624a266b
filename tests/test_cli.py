"""The command line answers fast and never imports TensorFlow for --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mmtune.cli import build_parser, main


def test_help_does_not_import_tensorflow():
    code = "import sys, mmtune.cli; sys.exit(3 if 'tensorflow' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize(
    "verb", ["data", "spaces", "search", "results", "refit", "predict", "report", "dashboard"]
)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    assert verb in capsys.readouterr().out


def test_bare_command_prints_help(capsys):
    assert main([]) == 0
    assert "search" in capsys.readouterr().out


def test_search_defaults():
    args = build_parser().parse_args(["search", "--space", "direct_mix"])
    assert args.trials == 40 and args.tuner == "tpe" and args.results == "results"
