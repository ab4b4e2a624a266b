"""The bad-input matrix: every bad input a user (or an attacker) can give, through the command
line. Each must exit 2 with a message naming what is wrong and where (file, row, column, key),
print no traceback, and write nothing: no ledger, no submission.

The data cases run through both ``mmtune data check`` and ``mmtune search`` (which must refuse
before training); the space files through ``mmtune search --space FILE`` (``test_spaces_cli``
runs them through ``mmtune spaces show``); saved models through ``mmtune predict``.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from searchkit import tiny_space
from test_data_check_cli import BROKEN  # tests/ is on sys.path (pytest's prepend import mode)
from test_spaces import BAD
from tinydata import edit_csv, write_dataset

from mmtune.cli import main

TRAIN = "data_train.csv"
TEST = "data_test_novt.csv"
NAMES = "class_names.txt"


# -- bad data --------------------------------------------------------------------------------


def _set(file: str, row: int, column: str, value: str) -> Callable[[Path], None]:
    return lambda d: edit_csv(d / file, row, column, value)


def _outside(d: Path) -> Path:
    outside = d.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.png").write_bytes((d / "trainimg_00000.png").read_bytes())
    return outside / "secret.png"


def _symlink_out(d: Path) -> None:
    (d / "trainimg_00002.png").unlink()
    (d / "trainimg_00002.png").symlink_to(_outside(d))


def _symlink_loop(d: Path) -> None:
    (d / "loop.png").symlink_to(d / "loop.png")
    edit_csv(d / TRAIN, 2, "IMAGE", "loop.png")


def _huge_non_picture(d: Path) -> None:
    with open(d / "testimg_00001.png", "wb") as fh:  # sparse: 1 GB on paper, nothing on disk
        fh.truncate(2**30)


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _short_row(d: Path) -> None:
    lines = (d / TRAIN).read_text().splitlines()
    lines[4] = ",".join(lines[4].split(",")[:3])
    (d / TRAIN).write_text("\n".join(lines) + "\n")


def _huge_header_cell(d: Path) -> None:
    lines = (d / TEST).read_text().splitlines()
    (d / TEST).write_text("\n".join([lines[0] + "," + "x" * 200_000] + lines[1:]) + "\n")


def _many_class_names(d: Path) -> None:
    (d / NAMES).write_text("\n".join(f"C{i}" for i in range(10_001)) + "\n")


def _no_names(d: Path) -> None:
    (d / NAMES).unlink()


def _fifo(name: str) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        (d / name).unlink(missing_ok=True)
        os.mkfifo(d / name)

    return run


def _folder(name: str) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        (d / name).unlink(missing_ok=True)
        (d / name).mkdir()
        (d / name / "inside.txt").write_text("a folder, not a file")

    return run


def _device(d: Path) -> None:
    (d / "trainimg_00006.png").unlink()
    try:  # a character device inside the data directory (/dev/null's numbers)
        os.mknod(d / "trainimg_00006.png", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")


def _dangling(name: str) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        (d / name).unlink(missing_ok=True)
        (d / name).symlink_to(d / "no-such-file.txt")

    return run


def _escaped_header(d: Path) -> None:
    for name in (TRAIN, TEST):  # a column named with an escape sequence, in both files
        lines = (d / name).read_text().splitlines()
        lines[0] = lines[0].replace("mfcc_2", "mfcc_2\x1b[2J\x1b]0;owned\x07")
        (d / name).write_text("\n".join(lines) + "\n")
    lines = (d / TRAIN).read_text().splitlines()
    cells = lines[2].split(",")
    cells[2] = "abc"  # row 1's mfcc_2
    lines[2] = ",".join(cells)
    (d / TRAIN).write_text("\n".join(lines) + "\n")


def _wide(d: Path) -> None:
    header = ",".join(["IMAGE", *(f"mfcc_{i}" for i in range(100_000)), "CLASS"])
    (d / TRAIN).write_text(header + "\n" + "trainimg_00000.png" + ",0" * 100_001 + "\n")


def _then(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        for step in steps:
            step(d)

    return run


# (breakage of a valid 12-row, 3-class data set; words the message must contain)
NEW_DATA = {
    "absolute picture path": (
        lambda d: edit_csv(d / TRAIN, 1, "IMAGE", str(_outside(d))),
        [TRAIN, "row 1", "column IMAGE", "absolute path"],
    ),
    "picture path climbing out with ..": (
        _set(TRAIN, 3, "IMAGE", "../outside/secret.png"),
        [TRAIN, "row 3", "column IMAGE", "leads outside"],
    ),
    "picture path to /etc/passwd": (
        _set(TEST, 0, "IMAGE", "../" * 12 + "etc/passwd"),
        [TEST, "row 0", "column IMAGE", "leads outside"],
    ),
    "picture symlink pointing outside": (
        _symlink_out,
        [TRAIN, "row 2", "column IMAGE", "leads outside"],
    ),
    "picture symlink loop": (_symlink_loop, [TRAIN, "row 2", "column IMAGE", "loop.png"]),
    "CLASS 1e20": (
        _set(TRAIN, 5, "CLASS", "1e20"),
        [TRAIN, "row 5", "column CLASS", "below 10,000"],
    ),
    "CLASS 1000000000 without class names": (
        _then(_no_names, _set(TRAIN, 6, "CLASS", "1000000000")),
        [TRAIN, "row 6", "column CLASS", "below 10,000"],
    ),
    "CLASS 40 of 12 rows without class names": (
        _then(_no_names, _set(TRAIN, 6, "CLASS", "40")),
        [TRAIN, "row 6", "column CLASS", "at most the 12 labelled rows"],
    ),
    "class_names.txt not UTF-8": (
        lambda d: (d / NAMES).write_bytes(b"FOR\xcaT\nCITY\nBEACH\n"),
        [NAMES, "Expected UTF-8 text", "byte 3"],
    ),
    "class_names.txt naming 10,001 classes": (_many_class_names, [NAMES, "at most 10,000"]),
    "MFCC near the float32 limit": (
        _set(TRAIN, 7, "mfcc_3", "3.3e38"),
        [TRAIN, "row 7", "column mfcc_3", "magnitude"],
    ),
    "MFCC overflowing float32": (
        _set(TEST, 2, "mfcc_1", "-1e39"),
        [TEST, "row 2", "column mfcc_1", "magnitude"],
    ),
    "a 1 GB non-picture file": (
        _huge_non_picture,
        [TEST, "row 1", "column IMAGE", "at most 64 MB", "not read"],
    ),
    "a picture claiming 20000x20000 pixels": (
        lambda d: (d / "trainimg_00008.png").write_bytes(_png_claiming(20_000, 20_000)),
        [TRAIN, "row 8", "column IMAGE", "400000000 pixels", "at most 64 megapixels"],
    ),
    "a picture claiming 9000x9000 pixels": (
        lambda d: (d / "testimg_00003.png").write_bytes(_png_claiming(9000, 9000)),
        [TEST, "row 3", "column IMAGE", "9000x9000", "at most 64 megapixels"],
    ),
    "a row with fewer fields than the header": (_short_row, [TRAIN, "row 3", "fewer"]),
    "a header cell of 200,000 characters": (
        _huge_header_cell,
        [TEST, "not a readable CSV at line 1"],
    ),
    "a NUL byte in a picture name": (
        _set(TRAIN, 4, "IMAGE", "a\x00b.png"),
        [TRAIN, "row 4", "column IMAGE", "no usable file name"],
    ),
    "a 5,000-character picture name": (
        _set(TRAIN, 4, "IMAGE", "p" * 5000 + ".png"),
        [TRAIN, "row 4", "column IMAGE", "5,004 characters"],
    ),
    "a 10 MB MFCC cell": (
        _set(TRAIN, 1, "mfcc_2", "9" * 10_000_000),
        [TRAIN, "line 3", "field larger than field limit"],
    ),
    "a 100,000-character MFCC cell": (
        _set(TEST, 1, "mfcc_2", "9" * 100_000),
        [TEST, "row 1", "column mfcc_2", "100,000 characters"],
    ),
    # issue 29: files that are not files, named for what they are (and never waited on)
    "a picture that is a FIFO": (
        _fifo("trainimg_00003.png"),
        [TRAIN, "row 3", "column IMAGE", "is a FIFO (named pipe), not a regular file"],
    ),
    "a picture that is a folder": (
        _folder("testimg_00002.png"),
        [TEST, "row 2", "column IMAGE", "is a folder, not a regular file"],
    ),
    "a picture that is a device": (
        _device,
        [TRAIN, "row 6", "column IMAGE", "is a character device, not a regular file"],
    ),
    "data_train.csv that is a FIFO": (
        _fifo(TRAIN),
        [TRAIN, "Expected a CSV file. Received: a FIFO (named pipe)"],
    ),
    "data_test_novt.csv that is a folder": (
        _folder(TEST),
        [TEST, "Expected a CSV file. Received: a folder"],
    ),
    "class_names.txt that is a folder": (
        _folder(NAMES),
        [NAMES, "Expected a text file (one class name per line). Received: a folder"],
    ),
    "class_names.txt that is a FIFO": (
        _fifo(NAMES),
        [NAMES, "Received: a FIFO (named pipe)"],
    ),
    "class_names.txt linking to nothing": (
        _dangling(NAMES),
        [NAMES, "a symbolic link to nothing"],
    ),
    # issue 29: a header's escape sequence reaches the terminal escaped
    "an escape sequence in a column name": (
        _escaped_header,
        [TRAIN, "row 1", "column mfcc_2\\x1b[2J\\x1b]0;owned\\x07", "Expected a number"],
    ),
    # issue 29: an absurd width is refused from the header line, before the rest is parsed
    "a header of 100,002 columns": (
        _wide,
        [TRAIN, "Expected at most 10,000 columns", "Received: 100,002 in the header line"],
    ),
}
DATA = {**{f"(existing) {k}": v for k, v in BROKEN.items()}, **NEW_DATA}


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def _cli(capsys, *argv: str) -> Outcome:
    """``mmtune ARGV`` in this process; a refusal at the parser (its ``SystemExit``) is an
    exit code as any other."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Outcome(code, out, err)


def _refused(outcome: Outcome, words: list[str]) -> None:
    assert "Traceback" not in outcome.out + outcome.err
    assert "\x1b" not in outcome.out + outcome.err, "no escape sequence reaches the terminal"
    assert outcome.code == 2, outcome.err
    assert outcome.err.startswith("mmtune: error: "), outcome.err
    for word in words:
        assert word in outcome.err, f"{word!r} not in {outcome.err[:2000]!r}"
    assert len(outcome.err) < 20_000  # every echoed value is cut short


@pytest.fixture
def broken(request, tmp_path):
    data = write_dataset(tmp_path / "d", n_train=12, n_test=4)
    breakage, words = DATA[request.param]
    breakage(data)
    return data, words


@pytest.mark.parametrize("broken", sorted(DATA), indirect=True)
def test_data_check_refuses(broken, capsys):
    data, words = broken
    _refused(_cli(capsys, "data", "check", "--data", str(data), "--resolution", "8"), words)


@pytest.mark.parametrize("broken", sorted(DATA), indirect=True)
def test_search_refuses_before_writing(broken, tmp_path, capsys):
    data, words = broken
    results = tmp_path / "results"
    _refused(
        _cli(
            capsys,
            "search",
            "--space",
            str(tiny_space(tmp_path)),
            "--trials",
            "1",
            "--data",
            str(data),
            "--results",
            str(results),
        ),
        words,
    )
    assert not results.exists()


# -- data a search cannot split ----------------------------------------------------------------


def test_a_search_refuses_classes_too_small_to_split(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", n_train=3, n_test=2, n_classes=3)  # one row a class
    check = _cli(capsys, "data", "check", "--data", str(data), "--resolution", "8")
    assert check.code == 0 and "a search refuses this data" in check.out
    results = tmp_path / "results"
    outcome = _cli(
        capsys,
        "search",
        "--space",
        str(tiny_space(tmp_path)),
        "--trials",
        "5",
        "--data",
        str(data),
        "--results",
        str(results),
    )
    _refused(
        outcome,
        [
            TRAIN,
            "column CLASS",
            "class 0 (PLACE-A) with 1 labelled row",
            "at least 2 labelled rows a class",
            "validation part",
        ],
    )
    assert not results.exists()  # refused before the study, let alone a trial


# -- bad space files -------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BAD))
def test_search_refuses_a_bad_space_file(case, tmp_path, capsys):
    text, key = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    _refused(
        _cli(
            capsys,
            "search",
            "--space",
            str(path),
            "--results",
            str(tmp_path / "r"),
            "--data",
            str(tmp_path / "nowhere"),
        ),  # never the demo data, even on failure
        [str(path), key],
    )
    assert not (tmp_path / "r").exists()


# -- bad options -----------------------------------------------------------------------------

OPTIONS = {
    "--resolution 100000": (
        ["data", "check", "--resolution", "100000"],
        ["between 8 and 1024 pixels", "100000"],
    ),
    "--resolution 7": (["data", "check", "--resolution", "7"], ["between 8 and 1024 pixels"]),
    "--data that does not exist": (["data", "check", "--data", "{tmp}/nowhere"], ["nowhere"]),
    "--space naming no built-in space": (
        ["search", "--space", "no_such_space", "--data", "{tmp}"],
        ["No search space called 'no_such_space'"],
    ),
    "--space of a missing file": (
        ["search", "--space", "{tmp}/missing.yaml", "--data", "{tmp}"],
        ["missing.yaml", "no such search space file"],
    ),
    "--storage that cannot be reached": (
        ["results", "--storage", "postgresql+psycopg://u:pw12345@127.0.0.1:1/db"],
        ["cannot open the storage", "u:***@127.0.0.1:1/db"],
    ),
    "--storage that is no URL": (
        ["results", "--storage", "not a url"],
        ["cannot open the storage"],
    ),
    "--port 70000": (
        ["dashboard", "--port", "70000"],
        ["argument --port", "Expected an integer between 1 and 65535. Received: 70000"],
    ),
}


@pytest.mark.parametrize("case", sorted(OPTIONS))
def test_bad_options_are_refused(case, tmp_path, capsys):
    argv, words = OPTIONS[case]
    data = write_dataset(tmp_path / "d", n_train=12, n_test=4)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[:2] == ["data", "check"] and "--data" not in argv:
        argv += ["--data", str(data)]
    outcome = _cli(capsys, *argv)
    _refused(outcome, [w.replace("{tmp}", str(tmp_path)) for w in words])
    assert "pw12345" not in outcome.out + outcome.err


# -- saved models that predict cannot feed ---------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Saved models of every odd shape, and the tiny data they predict on (6 MFCC, 3 classes)."""
    from mmtune import keras_backend

    keras_backend.start()
    import keras
    from keras import layers

    root = tmp_path_factory.mktemp("models")

    def save(name: str, inputs: list, output) -> Path:
        path = root / f"{name}.keras"
        keras.Model(inputs, output).save(path)
        return path

    def head(x, classes: int = 3):
        return layers.Dense(classes, activation="softmax")(x)

    def picture(shape, name="image", dtype="uint8"):
        i = keras.Input(shape, dtype=dtype, name=name)
        return i, layers.GlobalAveragePooling2D()(layers.Rescaling(1 / 255)(i))

    out = {"data": write_dataset(root / "data", n_train=12, n_test=4)}
    i, x = picture((None, None, 3))
    out["unknown size"] = save("unknown", [i], head(x))
    i, x = picture((20_000, 20_000, 3))
    out["20000 px"] = save("huge", [i], head(x))
    i, x = picture((16, 20, 3))
    out["not square"] = save("oblong", [i], head(x))
    i, x = picture((16, 16, 3), name="pixels")
    a = keras.Input((6,), name="sound")
    out["other names"] = save("names", [i, a], head(layers.Concatenate()([x, a])))
    a = keras.Input((None,), name="audio")
    pooled = layers.GlobalAveragePooling1D()(layers.Reshape((-1, 1))(a))
    out["audio of unknown width"] = save("wide", [a], head(pooled))
    a = keras.Input((7,), name="audio")
    i, x = picture((16, 16, 3))
    out["7 MFCC, audio input first"] = save("seven", [a, i], head(layers.Concatenate()([x, a])))
    a = keras.Input((6,), name="audio")
    out["4 classes"] = save("four", [a], head(a, 4))
    a = keras.Input((6,), name="audio")
    i, x = picture((16, 16, 3))
    out["audio first"] = save("good", [a, i], head(layers.Concatenate()([x, a])))
    (root / "garbage.keras").write_bytes(b"PK\x03\x04 not a model at all")
    out["garbage"] = root / "garbage.keras"
    return out


MODELS = {
    "unknown size": ["a known side", "(batch, ?, ?, 3)"],
    "20000 px": ["8 to 1024 pixels a side", "20000x20000"],
    "not square": ["square", "20x16"],
    "other names": ["Expected inputs named among image, audio", "pixels", "sound"],
    "audio of unknown width": ["'audio' input", "known width"],
    "7 MFCC, audio input first": ["takes 7 MFCC columns", "has 6"],
    "4 classes": ["predicts 4 classes", "has 3"],
    "garbage": ["cannot load the model", "garbage.keras"],
}


@pytest.mark.parametrize("case", sorted(MODELS))
def test_predict_refuses_a_model_it_cannot_feed(case, models, tmp_path, capsys):
    out = tmp_path / "submission.csv"
    _refused(
        _cli(
            capsys,
            "predict",
            "--model",
            str(models[case]),
            "--data",
            str(models["data"]),
            "--out",
            str(out),
        ),
        MODELS[case],
    )
    assert not out.exists()


def test_predict_finds_inputs_by_name_in_any_order(models, tmp_path, capsys):
    out = tmp_path / "submission.csv"
    outcome = _cli(
        capsys,
        "predict",
        "--model",
        str(models["audio first"]),
        "--data",
        str(models["data"]),
        "--out",
        str(out),
    )
    assert outcome.code == 0, outcome.err
    rows = out.read_text().splitlines()
    assert rows[0] == "id,CLASS" and len(rows) == 5
