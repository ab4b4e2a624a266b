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


#: Every flag of ``mmtune search`` away from its default (a new flag joins this line: the
#: test below says so when one is missing).
FULL_SEARCH = [
    *("search", "--space", "./my space.yaml", "--trials", "7", "--epoch-budget", "30"),
    "--data=-odd/data",
    *("--tuner", "random", "--pruner", "hyperband", "--max-epochs", "4", "--study", "s-1"),
    *("--results", "out dir", "--storage", "sqlite:///x.db", "--seed", "9", "--tensorboard"),
    *("--precision", "mixed", "--jit", "on", "--feed", "device", "--patience", "0"),
    *("--max-params", "0", "--max-cost", "2.5", "--warm-start", "earlier", "--no-portfolio"),
    *("--finalists", "1", "--repeats", "2", "--max-failures", "0", "--max-skips", "0"),
    *("--recycle-mb", "0", "--max-memory-mb", "512", "--workers", "3", "--heartbeat", "5"),
]


def test_every_search_flag_reaches_a_worker():
    """A worker runs the parent's search: each flag as given (one declared but left off the
    workers' command line quietly reverted to its default under --workers N), but for
    --storage, which travels in $MMTUNE_STORAGE, and --workers 1."""
    from mmtune.commands.search import worker_argv

    parser = build_parser()
    given = vars(parser.parse_args(FULL_SEARCH))
    defaults = vars(parser.parse_args(["search", "--space", "direct_mix"]))
    unchanged = [k for k in given if given[k] == defaults[k] and k not in ("verb", "handler")]
    assert not unchanged, f"FULL_SEARCH leaves these flags at their default: {unchanged}"
    argv = worker_argv(parser.parse_args(FULL_SEARCH))
    worker = vars(parser.parse_args(argv))
    assert "sqlite:///x.db" not in " ".join(argv)
    assert worker.pop("workers") == 1 and given.pop("workers") == 3
    assert worker.pop("storage") == defaults["storage"]
    given.pop("storage")
    assert worker == given


def test_every_search_flag_fills_a_setting(tmp_path):
    from mmtune.search.config import SearchConfig
    from mmtune.search.space_files import load_space

    args = build_parser().parse_args(FULL_SEARCH)
    args.own_process = True
    cfg = SearchConfig.from_args(args, load_space("direct_mix"), tmp_path)
    assert (cfg.trials, cfg.tuner, cfg.study, cfg.seed, cfg.heartbeat) == (7, "random", "s-1", 9, 5)
    assert cfg.epoch_budget == 30
    assert cfg.results_dir == tmp_path.__class__("out dir") and cfg.portfolio is False
    assert cfg.max_params is None and cfg.max_cost == 2.5 and cfg.warm_start == "earlier"
    assert cfg.recycle_mb is None and cfg.max_memory_mb == 512  # 0: never recycled
    args.own_process = False  # a library caller's process is never recycled nor capped
    cfg = SearchConfig.from_args(args, load_space("direct_mix"), tmp_path)
    assert cfg.recycle_mb is None and cfg.max_memory_mb is None
    args.a_new_flag = 1
    with pytest.raises(TypeError, match="'a_new_flag' fills no SearchConfig field"):
        SearchConfig.from_args(args, load_space("direct_mix"), tmp_path)


def test_the_search_flags_defaults_are_the_settings_defaults():
    from dataclasses import fields

    from mmtune.search.config import COMMAND_LINE_ONLY, SearchConfig

    args = vars(build_parser().parse_args(["search", "--space", "direct_mix"]))
    for f in fields(SearchConfig):
        if f.name in args and f.name not in (*COMMAND_LINE_ONLY, "space", "storage"):
            assert args[f.name] == f.default, f.name
