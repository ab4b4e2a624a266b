"""The ``mmtune`` command line: one verb per stage of the flow.

This module builds the parser and dispatches; it imports no TensorFlow, so
``mmtune --help`` answers at once. Each verb's handler lives in
:mod:`mmtune.commands` and is imported only when that verb runs.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from mmtune import __version__
from mmtune.errors import MmtuneError, shown
from mmtune.locations import DEFAULT_RESULTS, STORAGE_ENV, study_name_problem
from mmtune.search import tuners
from mmtune.search.config import PRUNERS, SearchConfig

__all__ = ["main", "build_parser", "command_line", "verb_parser", "Ranged"]

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction["_Parser"]

_SPACE_HELP = (
    "a built-in search space's name (see `mmtune spaces`), or a YAML file's path; "
    "a path contains a / or ends in .yaml or .yml (./mine.yaml): a bare name is "
    "always the built-in space, whatever files the working directory holds"
)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors read as every other mmtune error (one line, no usage
    block, control characters escaped), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            2,
            f"mmtune: error: {shown(message, None, quoted=False)}\n"
            f"  (`{self.prog} --help` lists the options)\n",
        )


@dataclass(frozen=True)
class Ranged:
    """An argparse ``type``: a number of ``kind`` in ``[low, high]`` (``high`` None: no
    upper end), refused at the parser with the range it takes. Every numeric flag takes one,
    declared once beside the flag.

    >>> Ranged(int, 1)("3")
    3
    >>> Ranged(int, 1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: Expected an integer of at least 1. Received: 0
    """

    kind: type[int] | type[float]
    low: float
    high: float | None = None
    unit: str = ""

    @property
    def expected(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        unit = f" {self.unit}" if self.unit else ""
        if self.high is None:
            return f"{noun} of at least {_number(self.low)}{unit}"
        return f"{noun} between {_number(self.low)} and {_number(self.high)}{unit}"

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"Expected {self.expected}. Received: {shown(text)}"
            ) from None
        if (
            not math.isfinite(value)
            or value < self.low
            or (self.high is not None and value > self.high)
        ):
            raise argparse.ArgumentTypeError(f"Expected {self.expected}. Received: {text}")
        return value


def _number(value: float) -> str:
    """1024, 65535, 100,000: thousands grouped from six digits on."""
    return f"{value:,}" if abs(value) >= 100_000 else f"{value}"


SEED = Ranged(int, 0, 2**31 - 1)  # numpy's seeds stop at 2**32 - 1; trial offsets are added
COUNT = Ranged(int, 1)
LIMIT = Ranged(int, 0)  # 0: no limit / none / never, as each flag's help says


def _given(text: str) -> str:
    """The type of a path or URL flag: never empty (``--data=`` ran on the demo set, and an
    empty ``--results`` would be the working directory, in silence)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"Expected a path or URL. Received: {shown(text)}")
    return text


def _study_name(text: str) -> str:
    """``--study``'s type: a name by :func:`mmtune.locations.study_name_problem`'s rule."""
    problem = study_name_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(
            f"a study name is a folder name under --results. {problem}"
        )
    return text


def _add_results(p: argparse.ArgumentParser, storage: bool = True) -> None:
    p.add_argument(
        "--results",
        metavar="DIR",
        type=_given,
        default=str(DEFAULT_RESULTS),
        help="results directory (default: ./results)",
    )
    if storage:
        p.add_argument(
            "--storage",
            metavar="URL",
            type=_given,
            default=os.environ.get(STORAGE_ENV) or None,
            help=f"Optuna storage URL (default: ${STORAGE_ENV} when set, else a "
            "SQLite file under --results); the environment variable keeps a password "
            "off the command line, which every user sees in `ps`",
        )


def _add_study(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--study",
        metavar="NAME",
        type=_study_name,
        help="study name (default: the latest study); letters, digits, _ . + -, at most 100",
    )


def _add_data(p: argparse.ArgumentParser, what: str = "data directory") -> None:
    p.add_argument(
        "--data",
        metavar="DIR",
        type=_given,
        help=f"{what} in the competition's layout (default: the demo data set)",
    )


def _add_compute(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        choices=("float32", "mixed"),
        default="float32",
        help="mixed: float16 compute on a GPU (bfloat16 on a CPU), float32 softmax "
        "and variables (default float32, as the seed)",
    )
    p.add_argument(
        "--jit",
        choices=("auto", "on", "off"),
        default="auto",
        help="XLA compilation of the training step (default: Keras' choice)",
    )
    p.add_argument(
        "--feed",
        choices=("pipeline", "device"),
        default="pipeline",
        help="pipeline: tf.data over the cache (default); device: the data set on "
        "the training device (GPU), batches gathered there",
    )


def _add_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=SEED, default=0, metavar="S", help="random seed (default 0)")


def _add_ledger(p: argparse.ArgumentParser) -> None:
    """--study, then --results and --storage: where a verb finds its study."""
    _add_study(p)
    _add_results(p)


def _verb(sub: _Subparsers, name: str, handler: str, help: str, **kw) -> _Parser:
    p = sub.add_parser(name, help=help, description=help, **kw)
    p.set_defaults(handler=handler)
    return p


def _add_data_verb(sub: _Subparsers) -> None:
    data = sub.add_parser(
        "data",
        help="make the demo data set or check a data directory",
        description="Make the demo data set or check a data directory.",
    )
    data_sub = data.add_subparsers(dest="data_verb", metavar="ACTION", required=True)
    _add_data_demo(data_sub)
    _add_data_check(data_sub)


def _add_data_demo(data_sub: _Subparsers) -> None:
    demo = _verb(
        data_sub,
        "demo",
        "mmtune.commands.data:demo",
        "write the synthetic demo data set in the competition's layout",
    )
    demo.add_argument(
        "--out", metavar="DIR", type=_given, help="where to write it (default: the demo cache)"
    )
    demo.add_argument(
        "--train",
        type=Ranged(int, 9, 10_000_000),
        default=None,
        metavar="N",
        help="labelled rows (at least 9: one a class)",
    )
    demo.add_argument(
        "--test", type=Ranged(int, 1, 10_000_000), default=None, metavar="N", help="test rows"
    )
    _add_seed(demo)
    demo.add_argument(
        "--image-size",
        type=Ranged(int, 8, 4096, "pixels"),
        default=256,
        metavar="PX",
        help="picture side in pixels (default 256, as the competition)",
    )
    demo.add_argument(
        "--difficulty",
        default="demo",
        metavar="NAME",
        help="a graded preset: easy, demo (the default data set's), medium, hard",
    )
    demo.add_argument("--force", action="store_true", help="overwrite an existing data set")


def _add_data_check(data_sub: _Subparsers) -> None:
    check = _verb(
        data_sub,
        "check",
        "mmtune.commands.check:check",
        "validate a data directory and print a summary, or every problem found",
    )
    _add_data(check)
    check.add_argument(
        "--strict",
        action="store_true",
        help="refuse pictures of differing size instead of resizing them",
    )
    check.add_argument(
        "--resolution",
        type=Ranged(int, 8, 1024, "pixels"),
        default=64,
        metavar="PX",
        help="cache resolution to build while checking (default 64)",
    )


def _add_spaces(sub: _Subparsers) -> None:
    spaces = _verb(
        sub, "spaces", "mmtune.commands.spaces:list_spaces", "list the search spaces, or show one"
    )
    spaces_sub = spaces.add_subparsers(dest="spaces_verb", metavar="ACTION")
    show = _verb(
        spaces_sub,
        "show",
        "mmtune.commands.spaces:show",
        "print a space's parameters and its default model's size",
    )
    show.add_argument("space", metavar="NAME|FILE", help=_SPACE_HELP)
    _add_data(show, "data whose shapes to use (default: the seed's shapes)")


def _add_search(sub: _Subparsers) -> None:
    search = _verb(
        sub, "search", "mmtune.commands.search:search", "run (or resume) a hyperparameter search"
    )
    search.add_argument("--space", required=True, metavar="NAME|FILE", help=_SPACE_HELP)
    search.add_argument(
        "--trials",
        type=Ranged(int, 1, 1_000_000),
        default=SearchConfig.default("trials"),
        metavar="N",
        help="trials in the study in total, resumed runs included (default %(default)s)",
    )
    search.add_argument(
        "--epoch-budget",
        type=LIMIT,
        default=SearchConfig.default("epoch_budget"),
        metavar="EPOCHS",
        help="a search sized by compute, not by trials: every epoch the study trains, the "
        "finalists' race included, counts toward it. Search trials stop starting when it is "
        "spent but for one evaluation of the leader (--max-epochs, at most half of it); the "
        "race then runs until it is decided or the budget is spent. The trial or evaluation "
        "that crosses a limit finishes (default and 0: no budget)",
    )
    _add_data(search)
    _add_search_tuner(search)
    _add_ledger(search)
    _add_seed(search)
    search.add_argument(
        "--tensorboard",
        action="store_true",
        help="write one TensorBoard run per trial, with its HParams",
    )
    _add_compute(search)
    _add_search_trial_limits(search)
    _add_search_start_and_finalists(search)
    _add_search_stops(search)
    _add_search_processes(search)


def _add_search_tuner(search: argparse.ArgumentParser) -> None:
    search.add_argument(
        "--tuner",
        choices=tuners.names(),
        default=SearchConfig.default("tuner"),
        help="; ".join(f"{t.name}: {t.family}" for t in tuners.TUNERS)
        + " (default %(default)s; the README's table says what each does)",
    )
    search.add_argument(
        "--pruner",
        choices=PRUNERS,
        default=SearchConfig.default("pruner"),
        help=f"Optuna pruner for --tuner {' / '.join(tuners.names_that('pruners'))} "
        "(default %(default)s)",
    )
    search.add_argument(
        "--max-epochs",
        type=Ranged(int, 1, 100_000),
        default=None,
        metavar="E",
        help="epochs of a full trial (default: the space's)",
    )


def _add_search_trial_limits(search: argparse.ArgumentParser) -> None:
    """What ends one trial early, or skips it untrained."""
    search.add_argument(
        "--patience",
        type=LIMIT,
        default=SearchConfig.default("patience"),
        metavar="N",
        help="end a trial after N epochs without a better validation accuracy "
        "(0: never; default %(default)s)",
    )
    search.add_argument(
        "--max-params",
        type=LIMIT,
        default=SearchConfig.default("max_params"),
        metavar="N",
        help="skip (prune untrained) configurations whose model has more "
        f"parameters (0: no limit; default {SearchConfig.default('max_params'):,}; the seed's "
        "is 1.4M)",
    )
    search.add_argument(
        "--max-cost",
        type=Ranged(float, 0),
        default=SearchConfig.default("max_cost"),
        metavar="X",
        help="skip (prune untrained) configurations costing more than X times "
        "the space's default model in multiply-accumulates a sample (0: no "
        "limit; default %(default)g)",
    )


def _add_search_start_and_finalists(search: argparse.ArgumentParser) -> None:
    """Where a new study starts, and how its best is confirmed at the end."""
    search.add_argument(
        "--warm-start",
        metavar="STUDY",
        help="a new study first tries the best configurations of this earlier "
        "study in the same ledger (after the seed's network and the space's "
        f"portfolio); --tuner {' / '.join(tuners.names_that('warm_start'))}",
    )
    search.add_argument(
        "--no-portfolio",
        action="store_true",
        help="a new study starts from the seed's network alone, not also from "
        "the space's portfolio of configurations",
    )
    search.add_argument(
        "--finalists",
        type=LIMIT,
        default=SearchConfig.default("finalists"),
        metavar="K",
        help="before naming its best, the search races its top K configurations: "
        "the leader is trained again with other seeds, and each other one while its "
        "mean is within a seed's swing of the leader's (0: none; default %(default)s)",
    )
    search.add_argument(
        "--repeats",
        type=Ranged(int, 1, 100),
        default=SearchConfig.default("repeats"),
        metavar="R",
        help="evaluations (seeds) the leader gets, and at most each finalist, "
        "its search trial included; the leaderboard ranks by their mean "
        "(default %(default)s)",
    )


def _add_search_stops(search: argparse.ArgumentParser) -> None:
    """What stops the whole search."""
    search.add_argument(
        "--max-failures",
        type=LIMIT,
        default=SearchConfig.default("max_failures"),
        metavar="N",
        help="stop after this many failed trials in a row (0: never; default %(default)s)",
    )
    search.add_argument(
        "--max-skips",
        type=LIMIT,
        default=SearchConfig.default("max_skips"),
        metavar="N",
        help="stop after this many configurations in a row were refused before training "
        "by --max-params / --max-cost / --max-memory-mb (0: never; default %(default)s)",
    )


def _add_search_processes(search: argparse.ArgumentParser) -> None:
    """The search's processes: recycling and parallel workers."""
    search.add_argument(
        "--recycle-mb",
        type=LIMIT,
        default=1024,  # the config's is none: a library caller's process is not recycled
        metavar="MB",
        help="between trials, restart the search process (it resumes from the "
        "ledger) once it has grown this much since its first trial (0: never; "
        "default %(default)s)",
    )
    search.add_argument(
        "--max-memory-mb",
        type=LIMIT,
        default=None,
        metavar="MB",
        help="keep the search process's resident memory under this: a configuration whose "
        "training would pass it is refused untrained, and between trials the process "
        "restarts when its memory plus the most a trial has held while it ran would pass "
        "it; on a GPU a configuration is judged against the GPU's free memory instead "
        "(0: no ceiling; default: half of this machine's memory, shared among --workers)",
    )
    search.add_argument(
        "--workers",
        type=Ranged(int, 1, 256),
        default=SearchConfig.default("workers"),
        metavar="N",
        help="local worker processes sharing the study (needs --storage "
        "postgresql://...; default %(default)s)",
    )
    search.add_argument(
        "--heartbeat",
        type=Ranged(int, 1, 3600, "seconds"),
        default=SearchConfig.default("heartbeat"),
        metavar="S",
        help="seconds between a worker's heartbeats; a trial silent for 3x as "
        "long is taken as dead, failed and retried (default %(default)s)",
    )


def _add_results_verb(sub: _Subparsers) -> None:
    results = _verb(
        sub,
        "results",
        "mmtune.commands.results:results",
        "print the leaderboard, or one trial's whole record",
    )
    _add_ledger(results)
    results.add_argument(
        "--top", type=COUNT, default=None, metavar="N", help="show the best N only"
    )
    results.add_argument(
        "--trial",
        type=LIMIT,
        default=None,
        metavar="N",
        help="show one trial's record with its per-epoch curve",
    )
    results.add_argument("--format", choices=("table", "csv", "markdown", "json"), default="table")


def _add_refit(sub: _Subparsers) -> None:
    refit = _verb(
        sub,
        "refit",
        "mmtune.commands.refit:refit",
        "retrain a trial's configuration on all labelled data, write the submission",
    )
    which = refit.add_mutually_exclusive_group(required=True)
    which.add_argument("--best", action="store_true", help="the leaderboard's winner")
    which.add_argument("--trial", type=LIMIT, metavar="N", help="this trial number")
    _add_ledger(refit)
    _add_data(refit, "data directory (default: the one the search used)")
    refit.add_argument(
        "--force", action="store_true", help="accept --data whose hash differs from the study's"
    )
    refit.add_argument(
        "--ensemble",
        type=Ranged(int, 1, 100),
        default=1,
        metavar="K",
        help="average the top K configurations",
    )
    refit.add_argument(
        "--seeds",
        type=Ranged(int, 1, 100),
        default=None,
        metavar="K",
        help="average K seeds of the chosen configuration in one model.keras "
        "(default 3; 1 with --ensemble)",
    )
    _add_seed(refit)
    refit.add_argument(
        "--no-check", action="store_true", help="skip the honest check on the training part"
    )
    refit.add_argument(
        "--candidates",
        type=Ranged(int, 1, 1000),
        default=3,
        metavar="K",
        help="configurations the honest check may try, in leaderboard order, "
        "before refitting one that falls below its figure with a warning "
        "(default 3)",
    )
    _add_compute(refit)


def _add_predict(sub: _Subparsers) -> None:
    predict = _verb(
        sub,
        "predict",
        "mmtune.commands.predict:predict",
        "write a submission (or class probabilities) from a saved model",
    )
    predict.add_argument(
        "--model", required=True, metavar="PATH", type=_given, help="a .keras model"
    )
    _add_data(predict)
    predict.add_argument(
        "--out",
        metavar="FILE",
        type=_given,
        default="submission.csv",
        help="the file to write (default submission.csv); never the model or a data file",
    )
    predict.add_argument(
        "--probabilities",
        action="store_true",
        help="write per-class probabilities, class names as columns",
    )


def _add_report(sub: _Subparsers) -> None:
    report = _verb(
        sub,
        "report",
        "mmtune.commands.report:report",
        "write an HTML report of a study (plots embedded)",
    )
    _add_ledger(report)


def _add_dashboard(sub: _Subparsers) -> None:
    dashboard = _verb(
        sub,
        "dashboard",
        "mmtune.commands.dashboard:dashboard",
        "serve optuna-dashboard on the study's ledger (the `dashboard` extra)",
    )
    _add_ledger(dashboard)
    dashboard.add_argument(
        "--host",
        default="127.0.0.1",
        help="address (default: loopback); the dashboard has no "
        "authentication, so any other address is warned about",
    )
    dashboard.add_argument("--port", type=Ranged(int, 1, 65535), default=8080)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mmtune",
        description="Hyperparameter search for the multimodal (picture + MFCC audio) scene "
        "classifier: search, read the leaderboard, refit the winner, write the submission.",
        epilog="Typical path: mmtune search --space direct_mix --trials 40; "
        "mmtune results; mmtune refit --best",
    )
    parser.add_argument("--version", action="version", version=f"mmtune {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    # The order here is the order of the verbs in `mmtune --help`.
    _add_data_verb(sub)
    _add_spaces(sub)
    _add_search(sub)
    _add_results_verb(sub)
    _add_refit(sub)
    _add_predict(sub)
    _add_report(sub)
    _add_dashboard(sub)
    return parser


def verb_parser(verb: str) -> argparse.ArgumentParser:
    """The parser of one verb: the one declaration of its flags."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[verb]


def command_line(
    verb: str,
    args: argparse.Namespace,
    *,
    leave_out: Sequence[str] = (),
    values: dict[str, object] | None = None,
) -> list[str]:
    """The command line that parses back to ``args`` for ``verb``: each of its flags with its
    value (``values`` replace some, by their ``dest``; ``leave_out`` names flags the other
    process learns otherwise). Read from the verb's parser, so a new flag is on it at once.

    >>> args = build_parser().parse_args(["search", "--space", "direct_mix", "--trials", "3"])
    >>> command_line("search", args, values={"workers": 1})[:5]
    ['search', '--space=direct_mix', '--trials=3', '--tuner=tpe', '--pruner=median']
    """
    values = values or {}
    argv = [verb]
    for action in verb_parser(verb)._actions:
        if not action.option_strings or action.dest in leave_out or action.dest == "help":
            continue
        value = values.get(action.dest, getattr(args, action.dest))
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            argv += [flag] if value else []
        elif not isinstance(action, argparse._StoreAction):
            raise TypeError(f"{flag}: a flag of kind {type(action).__name__} is not written back")
        elif value is not None:
            argv.append(f"{flag}={value}")  # one word: a value starting with - stays a value
    return argv


def _dispatch(args: argparse.Namespace) -> int:
    module_name, func_name = args.handler.split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    return int(handler(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    args.own_process = argv is None  # a real command line may re-exec itself (search recycling)
    try:
        return _dispatch(args)
    except MmtuneError as exc:
        # Line by line, each without control characters: a message echoes file, column,
        # class and study names, any of which may hold an escape sequence.
        lines = (shown(line, None, quoted=False) for line in str(exc).split("\n"))
        print("mmtune: error: " + "\n".join(lines), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mmtune: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mmtune results | head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
