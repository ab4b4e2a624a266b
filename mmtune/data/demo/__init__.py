"""The synthetic demo data set, in exactly the competition's layout.

Nine places (FOREST .. FOOTBALL-MATCH), each filmed in a few "videos": a
procedural scene (colour layout, textures, shapes) whose frames differ by
camera jitter (shift, rotation, zoom), light (brightness, contrast, tint) and
sensor noise. Each row's sound is a synthesized one-second waveform (noise
bands, hum, bursts, chirps, tones) turned into real MFCCs (STFT, mel
filterbank, log, DCT), averaged over time segments: 13 coefficients x 8
segments = 104 columns by default.

The classes are built so that fusion matters. In pictures they come in
look-alike pairs (FOREST~JUNGLE, BEACH~RIVER, CLASSROOM~RESTAURANT,
CITY~FOOTBALL-MATCH); in sound, in *different* sound-alike pairs
(FOREST~RIVER, CITY~GROCERY-STORE, BEACH~FOOTBALL-MATCH, JUNGLE~RESTAURANT).
A tell-tale object (a mushroom, a boat, a taxi ..) or sound (a bird, a horn,
a whistle ..) separates twins in one modality, but only in some rows
(:attr:`Difficulty.cue`). One modality alone therefore tops out well below
both together.

How hard the set is comes from a :class:`Difficulty` (videos per class, cue
probability, camera, light and sensor noise, look-alike palettes, sound noise);
:data:`DIFFICULTIES` names graded presets, ``"demo"`` being the default. The
generator knows every test row's class and writes it to ``test_answers.csv``
(``id,CLASS``), so a submission made on this data can be scored.

Only numpy and Pillow are used: making the data never imports TensorFlow. The knobs live in
:mod:`.difficulty`, the pictures are painted by :mod:`.pictures` and the sounds made by
:mod:`.sounds`; this module writes the set and keeps the default one.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmtune.data.demo.difficulty import DIFFICULTIES, Difficulty, difficulty_named
from mmtune.data.demo.pictures import Scenes, frame
from mmtune.data.demo.sounds import DEFAULT_MFCC, mfcc, waveform
from mmtune.errors import MmtuneError, shown
from mmtune.locations import demo_data_dir, writable_dir

__all__ = [
    "ANSWERS_CSV",
    "CLASS_NAMES",
    "DIFFICULTIES",
    "Difficulty",
    "DEFAULT_TEST",
    "DEFAULT_TRAIN",
    "GENERATOR_VERSION",
    "check_sizes",
    "difficulty_named",
    "ensure_demo",
    "mfcc",
    "not_replaceable",
    "write_demo",
]

GENERATOR_VERSION = 3
CLASS_NAMES = (
    "FOREST",
    "CITY",
    "BEACH",
    "CLASSROOM",
    "RIVER",
    "JUNGLE",
    "RESTAURANT",
    "GROCERY-STORE",
    "FOOTBALL-MATCH",
)
DEFAULT_TRAIN = 450  # 50 rows per class: the README's 40-trial search fits in minutes on 2 cores
DEFAULT_TEST = 135
DEFAULT_IMAGE_SIZE = 256

#: Above this many rows a set is painted by every core (a process pool costs about a second).
PARALLEL_ROWS = 600

MARKER = ".mmtune-demo"  # version marker ensure_demo() reads
TRAIN_CSV = "data_train.csv"
TEST_CSV = "data_test_novt.csv"
ANSWERS_CSV = "test_answers.csv"  # id,CLASS of every test row: known to the generator only
#: Every name a demo set holds: what ``--force`` may replace, and nothing else.
_DEMO_NAMES = re.compile(
    r"data_train\.csv|data_test_novt\.csv|test_answers\.csv|class_names\.txt|README\.txt"
    r"|\.mmtune-demo|(trainimg|testimg)_\d{5,}\.png"
)

Rng = np.random.Generator


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _labels(n: int, rng: Rng) -> np.ndarray:
    """``n`` class ids, as balanced as ``n`` allows, in random order."""
    labels = np.arange(n) % len(CLASS_NAMES)
    rng.shuffle(labels)
    return labels


def _write_split(
    tmp: Path,
    prefix: str,
    labels: np.ndarray,
    seed: int,
    split: int,
    scenes: Scenes,
    n_mfcc: int,
    with_class: bool,
    tick: Callable[[int], None],
    d: Difficulty,
    workers: int = 1,
) -> None:
    """One split's pictures and its CSV. Each row draws from its own seeded generator, so rows
    are made in any order, by ``workers`` processes, and the files are byte-identical."""
    header = (
        ["IMAGE"] + [f"mfcc_{j}" for j in range(1, n_mfcc + 1)] + (["CLASS"] if with_class else [])
    )
    job = _Rows(tmp, prefix, np.asarray(labels), seed, split, scenes, n_mfcc, with_class, d)
    n = len(labels)
    chunk = max(1, min(256, -(-n // max(1, workers * 4))))
    spans = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
    parts: dict[int, list[str]] = {}
    if workers <= 1 or len(spans) == 1:
        for a, b in spans:
            parts[a] = job(a, b)
            tick(b - a)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(job, a, b): (a, b) for a, b in spans}
            for future in as_completed(futures):
                a, b = futures[future]
                parts[a] = future.result()
                tick(b - a)
    lines = [",".join(header)] + [line for a, _ in spans for line in parts[a]]
    (tmp / (TRAIN_CSV if with_class else TEST_CSV)).write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class _Rows:
    """Rows ``[a, b)`` of one split: their pictures written, their CSV lines returned (a
    picklable job for the worker processes)."""

    tmp: Path
    prefix: str
    labels: np.ndarray
    seed: int
    split: int
    scenes: Scenes
    n_mfcc: int
    with_class: bool
    d: Difficulty

    def __call__(self, a: int, b: int) -> list[str]:
        lines = []
        for i in range(a, b):
            rng = np.random.default_rng([self.seed, 2, self.split, i])
            label = int(self.labels[i])
            video = int(rng.integers(self.d.videos))
            name = f"{self.prefix}_{i:05d}.png"
            frame(self.scenes, label, video, rng, self.d).save(self.tmp / name, compress_level=6)
            feats = mfcc(waveform(label, video, self.seed, rng, self.d), self.n_mfcc)
            row = [name] + [f"{v:.6f}" for v in feats] + ([str(label)] if self.with_class else [])
            lines.append(",".join(row))
        return lines


def _marker_text(
    n_train: int,
    n_test: int,
    seed: int,
    image_size: int,
    n_mfcc: int,
    difficulty: Difficulty = DIFFICULTIES["demo"],
) -> str:
    return (
        f"generator={GENERATOR_VERSION} seed={seed} train={n_train} test={n_test} "
        f"image_size={image_size} n_mfcc={n_mfcc} {difficulty.describe()}\n"
    )


def _readme(
    n_train: int, n_test: int, seed: int, image_size: int, n_mfcc: int, d: Difficulty
) -> str:
    return f"""SYNTHETIC demo data for mmtune: no real pictures or sounds are in here.

Made by mmtune.data.demo (generator version {GENERATOR_VERSION}, seed {seed}):
{n_train} labelled rows (data_train.csv), {n_test} test rows (data_test_novt.csv),
{image_size}x{image_size} RGB PNG pictures and {n_mfcc} MFCC columns, 9 classes
(class_names.txt, line i = class i), in the layout of the IOGS ATSI multimodal
competition. test_answers.csv holds the class of every test row (id,CLASS), so a
submission can be scored: real competition data has no such file.

Difficulty: {d.describe()}.
Each class is filmed in {d.videos} "videos": a procedural scene whose frames differ
by camera jitter (shift, rotation, zoom), light and noise. Each row's sound is a
synthesized one-second waveform (noise bands, hum, bursts, chirps, tones) whose
MFCCs (25 ms frames, 40 mel bands, log, DCT) are averaged over time segments.
Pictures come in look-alike pairs and sounds in different sound-alike pairs; a
tell-tale object or sound tells twins apart in {d.cue:.0%} of rows, so each
modality alone tops out well below both together.

Remake it with: mmtune data demo --out DIR --seed {seed} --train {n_train} --test {n_test}
"""


def check_sizes(n_train: int, n_test: int, image_size: int, n_mfcc: int) -> None:
    """Raise ``ValueError`` naming the first size :func:`write_demo` cannot make."""
    if n_train < len(CLASS_NAMES):
        raise ValueError(
            f"Expected at least {len(CLASS_NAMES)} training rows, one per class. "
            f"Received: n_train={n_train}"
        )
    if n_test < 1 or image_size < 8 or n_mfcc < 1:
        raise ValueError(
            "Expected n_test >= 1, image_size >= 8 and n_mfcc >= 1. Received: "
            f"n_test={n_test}, image_size={image_size}, n_mfcc={n_mfcc}"
        )


def write_demo(
    out_dir: str | Path,
    n_train: int = DEFAULT_TRAIN,
    n_test: int = DEFAULT_TEST,
    seed: int = 0,
    image_size: int = DEFAULT_IMAGE_SIZE,
    n_mfcc: int = DEFAULT_MFCC,
    progress: bool = False,
    overwrite: bool = False,
    difficulty: Difficulty | str = "demo",
    workers: int | None = None,
) -> Path:
    """Write the synthetic data set to ``out_dir`` in the competition's layout.

    The whole set is written to a temporary sibling directory, then renamed
    into place: an interrupted run never leaves a partial data set at
    ``out_dir``. The same arguments give byte-identical CSVs.
    ``out_dir`` must not exist or be empty, unless ``overwrite`` is true.
    ``difficulty``: a :class:`Difficulty` or the name of a preset in :data:`DIFFICULTIES`.
    ``workers``: processes painting the rows (``None``: every core for sets of over
    :data:`PARALLEL_ROWS` rows, else one); the files are the same whatever the number.

    >>> import tempfile, pandas as pd
    >>> d = write_demo(tempfile.mkdtemp() + "/demo", n_train=18, n_test=9, image_size=32)
    >>> pd.read_csv(d / "data_train.csv").shape
    (18, 106)
    """
    out = Path(out_dir).absolute()
    check_sizes(n_train, n_test, image_size, n_mfcc)
    d = difficulty_named(difficulty) if isinstance(difficulty, str) else difficulty
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty")
    why = not_replaceable(out)
    if why is not None:
        raise MmtuneError(why)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}-", dir=out.parent))
    try:
        total, done = n_train + n_test, [0]
        if workers is None:
            workers = _cores() if total > PARALLEL_ROWS else 1

        def tick(rows: int) -> None:
            before, done[0] = done[0], done[0] + rows
            if progress and (done[0] // 25 > before // 25 or done[0] == total):
                print(
                    f"\r  {done[0]}/{total} rows",
                    end="\n" if done[0] == total else "",
                    file=sys.stderr,
                    flush=True,
                )

        scenes = Scenes(seed, image_size, d.palette)
        rng = np.random.default_rng([seed, 0])
        train_labels = _labels(n_train, rng)
        _write_split(tmp, "trainimg", train_labels, seed, 0, scenes, n_mfcc, True, tick, d, workers)
        test_labels = _labels(n_test, rng)
        _write_split(tmp, "testimg", test_labels, seed, 1, scenes, n_mfcc, False, tick, d, workers)
        (tmp / ANSWERS_CSV).write_text(
            "id,CLASS\n" + "".join(f"{i},{int(c)}\n" for i, c in enumerate(test_labels))
        )
        (tmp / "class_names.txt").write_text("\n".join(CLASS_NAMES) + "\n")
        (tmp / "README.txt").write_text(_readme(n_train, n_test, seed, image_size, n_mfcc, d))
        (tmp / MARKER).write_text(_marker_text(n_train, n_test, seed, image_size, n_mfcc, d))
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def not_replaceable(out: str | os.PathLike[str]) -> str | None:
    """Why a demo set may not be written at ``out`` (replacing what is there), or None.

    ``out`` may be missing, an empty folder, or a demo set: a folder with the demo's marker
    holding only what the demo writes. Anything else is the user's, and stays: a folder
    without the marker, a file or a folder the demo never writes inside one with it. The
    working directory (or a folder holding it) is never replaced: the folder is swapped
    whole, which would leave a shell in a deleted folder.
    """
    out = Path(out).absolute()
    if not out.exists():
        return None
    if not out.is_dir():
        return f"--out {out}: Expected a folder. Received: a path that is not a folder"
    cwd = Path.cwd()
    if out == cwd or out in cwd.parents:
        return (
            f"--out {out}: that is the working directory (or holds it); the demo set replaces "
            "its folder whole. Give a new or empty folder beside it, e.g. --out ./demo"
        )
    entries = list(out.iterdir())
    if not entries:
        return None
    if not (out / MARKER).is_file():
        return (
            f"--out {out}: the folder holds files and is not a demo data set (it has no "
            f"{MARKER} marker); --force replaces only a demo set mmtune wrote, never other "
            "files. Give a new or empty folder as --out"
        )
    foreign = sorted(
        e.name for e in entries if not _DEMO_NAMES.fullmatch(e.name) or e.is_symlink() or e.is_dir()
    )
    if foreign:
        listed = ", ".join(shown(n) for n in foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        return (
            f"--out {out}: the demo set there also holds what the demo did not write "
            f"({listed}); --force would delete them. Move them out first, or give another --out"
        )
    return None


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` onto ``out``, moving an existing ``out`` aside first."""
    if out.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".old-{out.name}-", dir=out.parent))
        old = trash / "old"
        out.rename(old)
        try:
            tmp.rename(out)
        except BaseException:
            old.rename(out)
            raise
        finally:
            shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(out)


def ensure_demo() -> Path:
    """The default demo data set under :func:`mmtune.locations.demo_data_dir`.

    Made on first use (and remade when the generator version changes), then
    reused.
    """
    out = demo_data_dir()
    expected = _marker_text(DEFAULT_TRAIN, DEFAULT_TEST, 0, DEFAULT_IMAGE_SIZE, DEFAULT_MFCC)
    marker = out / MARKER
    if marker.is_file() and marker.read_text() == expected:
        return out
    try:
        writable_dir(out.parent, "the cache folder")
    except MmtuneError as exc:
        raise MmtuneError(
            f"cannot make the demo data set in {out}: {exc}. Set $MMTUNE_CACHE_DIR to a "
            "folder mmtune can write, or give --data DIR"
        ) from None
    print(f"mmtune: making the synthetic demo data set in {out} (first use)", file=sys.stderr)
    try:
        return write_demo(
            out,
            DEFAULT_TRAIN,
            DEFAULT_TEST,
            0,
            DEFAULT_IMAGE_SIZE,
            DEFAULT_MFCC,
            progress=sys.stderr.isatty(),
            overwrite=True,
        )
    except OSError as exc:
        # Another process may have made it at the same moment: use theirs.
        if marker.is_file() and marker.read_text() == expected:
            return out
        raise MmtuneError(
            f"cannot make the demo data set in {out} ({exc.strerror or exc}): set "
            "$MMTUNE_CACHE_DIR to a folder mmtune can write, or give --data DIR"
        ) from None
