"""Where mmtune keeps things on disk when the user does not say.

- results: ``./results`` (``--results DIR``): ledger, refits, reports.
- ledger: a SQLite file under the results, or ``--storage URL``, whose default is
  ``$MMTUNE_STORAGE`` (:data:`STORAGE_ENV`): a URL with a password stays off command lines.
- cache: ``$MMTUNE_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmtune``, else
  ``~/.cache/mmtune``: decoded picture caches and the demo data set, shared by
  every trial, worker process and results directory on the machine.
- a study's files: ``<results>/<study>/`` (:func:`study_dir`), and nowhere else. A study's
  name is a name, never a path: :func:`study_name_problem` is the one rule, applied to
  ``--study``, to a space file's ``name`` (a search's default study) and to every name read
  back from a ledger before it becomes a folder.

Places the user names for mmtune to write (``--results``, ``--out``) are checked before any
work: :func:`writable_dir`, :func:`writable_file`.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from mmtune.errors import MmtuneError, shown

__all__ = [
    "DEFAULT_RESULTS",
    "LEDGER_FILE",
    "STORAGE_ENV",
    "STUDY_NAME_MAX",
    "STUDY_NAME_RULE",
    "builtin_spaces_dir",
    "cache_root",
    "demo_data_dir",
    "study_dir",
    "study_name_problem",
    "writable_dir",
    "writable_file",
]

DEFAULT_RESULTS = Path("results")
LEDGER_FILE = "ledger.sqlite3"  # the default ledger, under the results (and its -journal, -wal)
STORAGE_ENV = "MMTUNE_STORAGE"  # --storage's default; how worker processes receive the URL


def cache_root() -> Path:
    """The directory that holds picture caches and the demo data."""
    explicit = os.environ.get("MMTUNE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "mmtune"


def demo_data_dir() -> Path:
    """Where the default demo data set is made on first use, then reused."""
    return cache_root() / "demo"


def builtin_spaces_dir() -> Path:
    """The repository's ``search_spaces/`` folder (beside the package)."""
    return Path(__file__).resolve().parent.parent / "search_spaces"


# -- a study's name and folder ------------------------------------------------------------------

STUDY_NAME_MAX = 100  # characters: a folder name fits any file system's 255 bytes
STUDY_NAME_RULE = (
    f"a name of 1 to {STUDY_NAME_MAX} characters among letters (A-Z, a-z), digits, "
    "'_', '.', '+' and '-', starting with a letter, a digit or '_', and not the ledger's "
    f"file ({LEDGER_FILE}*)"
)
_STUDY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def study_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a study (whose files go in ``<results>/<name>/``), or None.

    The one rule for every study name: ``/``, ``\\``, ``..``, a leading ``.`` or ``-``,
    control characters, spaces, an empty or an over-long name are refused, so a name never
    leads outside the results directory, never hides, never reads as an option.

    >>> study_name_problem("direct_mix") is None
    True
    >>> study_name_problem("../../escape").endswith("Received: '../../escape'")
    True
    """
    if (
        isinstance(name, str)
        and len(name) <= STUDY_NAME_MAX
        and _STUDY_NAME.fullmatch(name)
        and not name.startswith(LEDGER_FILE)  # its folder would be the SQLite ledger's file
    ):
        return None
    return f"Expected {STUDY_NAME_RULE}. Received: {shown(name)}"


def study_dir(results_dir: str | os.PathLike[str], name: str) -> Path:
    """The folder of study ``name``'s files (refit, report, Keras Tuner's state,
    TensorBoard runs): ``<results>/<name>``, always inside ``results_dir``.

    Raises:
        MmtuneError: ``name`` breaks :func:`study_name_problem`'s rule, as a name read from a
            shared ledger may (any user of a PostgreSQL ledger can create a study): it is
            never used as a path.
    """
    problem = study_name_problem(name)
    if problem is not None:
        raise MmtuneError(
            f"study {shown(name)}: its name cannot be a folder under {results_dir}, so mmtune "
            f"writes nothing for it. {problem}. Copy the study under such a name "
            "(optuna.copy_study) to refit or report it"
        )
    folder = Path(results_dir) / name
    if os.path.islink(folder):  # planted in a shared results folder: it leads elsewhere
        raise MmtuneError(
            f"study {name}: Expected its folder {folder} to be a folder inside {results_dir}. "
            f"Received: a symbolic link (to {shown(os.readlink(folder))}); mmtune writes "
            "nothing through it. Remove the link"
        )
    return folder


# -- places the user names for mmtune to write ---------------------------------------------------


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (a file or a folder)."""
    here = path.absolute()
    while not os.path.lexists(here) and here != here.parent:
        here = here.parent
    return here


def _probe(folder: Path) -> str | None:
    """Why no file can be created in ``folder``, or None. The probe is an unnamed temporary
    file (``O_TMPFILE`` where the system has it): nothing named appears, nothing is left."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def writable_dir(path: str | os.PathLike[str], flag: str) -> Path:
    """``path`` as a folder mmtune may write in, checked before any work (it is not made
    here: a refused command writes nothing).

    Raises:
        MmtuneError: ``path`` (or a folder on the way to it) is a file, or no file can be
            created there (a read-only file system, no permission).
    """
    path = Path(path)
    found = _existing_ancestor(path)
    if not found.is_dir():
        where = "is" if found == path.absolute() else f"lies under {found}, which is"
        raise MmtuneError(
            f"{flag} {path}: Expected a folder mmtune can write in. Received: a path that "
            f"{where} {_kind(found)}"
        )
    why = _probe(found)
    if why is not None:
        where = "" if found == path.absolute() else f" (nor can {found} hold a new folder)"
        raise MmtuneError(f"{flag} {path}: cannot write there{where}: {why}")
    return path


def writable_file(
    path: str | os.PathLike[str], flag: str, keep: dict[str, Path] | None = None
) -> Path:
    """``path`` as a file mmtune may write (replacing a file there, atomically), checked
    before any work. ``keep``: files it must never replace, by what they are (the model a
    command reads, the data's files).

    Raises:
        MmtuneError: ``path`` is a folder (or any other thing than a file), one of ``keep``,
            lies under a file, or its folder cannot be written.
    """
    path = Path(path)
    if os.path.lexists(path) and not path.is_file():
        raise MmtuneError(
            f"{flag} {path}: Expected a file to write. Received: a path that is {_kind(path)}"
        )
    for what, kept in (keep or {}).items():
        if path.is_file() and kept.is_file() and os.path.samefile(path, kept):
            raise MmtuneError(
                f"{flag} {path}: Expected a file to write. Received: {what} ({kept}), which "
                "writing would replace. Give another path"
            )
    writable_dir(path.parent, f"{flag} {path}: its folder")
    return path


def _kind(path: Path) -> str:
    """What ``path`` is, in words (a file, a folder, a FIFO ...)."""
    from mmtune.file_kinds import describe

    return describe(path)
