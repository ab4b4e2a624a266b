"""Start mmtune in a fresh interpreter: this very package, never one from the working directory.

``python -m mmtune`` puts the working directory first on the import path, so a folder
``./mmtune/`` there (a checkout, a stray copy, a file planted in a shared directory) would run
instead of the installed package. Worker processes and a recycled search process are started
with :func:`mmtune_command` instead: the interpreter drops the working directory from its
path and loads the ``mmtune`` package from the folder the running process imported it from.

>>> mmtune_command(["--version"])[-1]
'--version'
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["mmtune_command", "package_dir"]

_BOOTSTRAP = """\
import importlib.util, os, sys
cwd = os.getcwd()
sys.path[:] = [p for p in sys.path if p not in ("", ".") and os.path.abspath(p) != cwd]
spec = importlib.util.spec_from_file_location(
    "mmtune", {init!r}, submodule_search_locations=[{package!r}])
module = importlib.util.module_from_spec(spec)
sys.modules["mmtune"] = module
spec.loader.exec_module(module)
from mmtune.cli import main
sys.exit(main())
"""


def package_dir() -> Path:
    """The folder of the ``mmtune`` package this process runs."""
    return Path(__file__).resolve().parent


def mmtune_command(argv: Sequence[str]) -> list[str]:
    """The command line that runs ``mmtune ARGV`` with this process's interpreter and package."""
    package = package_dir()
    code = _BOOTSTRAP.format(init=str(package / "__init__.py"), package=str(package))
    return [sys.executable, "-c", code, *argv]
