"""`mmtune data check` on small broken data sets: exit code, file/row/column, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from tinydata import edit_csv, write_dataset

from mmtune.cli import main

TRAIN = "data_train.csv"
TEST = "data_test_novt.csv"


def _rewrite(path: Path, fn) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(fn(lines)) + "\n")


def _drop_column(path: Path, column: str) -> None:
    def drop(lines):
        index = lines[0].split(",").index(column)
        return [",".join(c for i, c in enumerate(line.split(",")) if i != index) for line in lines]

    _rewrite(path, drop)


def _truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _run(data_dir: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["data", "check", "--data", str(data_dir), "--resolution", "8", *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# (breakage, words the error must contain: file, row, column, what)
BROKEN = {
    "missing train csv": (lambda d: (d / TRAIN).unlink(), [TRAIN, "missing"]),
    "missing test csv": (lambda d: (d / TEST).unlink(), [TEST, "missing"]),
    "empty train csv": (lambda d: (d / TRAIN).write_text(""), [TRAIN, "empty"]),
    "header-only test csv": (
        lambda d: _rewrite(d / TEST, lambda ls: ls[:1]),
        [TEST, "header but no data rows"],
    ),
    "no IMAGE column": (
        lambda d: _rewrite(d / TRAIN, lambda ls: [ls[0].replace("IMAGE", "PICTURE")] + ls[1:]),
        [TRAIN, "column IMAGE", "Expected a column named IMAGE"],
    ),
    "NaN mfcc": (
        lambda d: edit_csv(d / TRAIN, 3, "mfcc_2", "nan"),
        [TRAIN, "row 3 (line 5)", "column mfcc_2", "finite"],
    ),
    "inf mfcc": (
        lambda d: edit_csv(d / TEST, 1, "mfcc_4", "-inf"),
        [TEST, "row 1", "column mfcc_4", "'-inf'"],
    ),
    "empty mfcc": (
        lambda d: edit_csv(d / TRAIN, 0, "mfcc_1", ""),
        [TRAIN, "row 0", "column mfcc_1", "empty"],
    ),
    "non-numeric mfcc": (
        lambda d: edit_csv(d / TRAIN, 5, "mfcc_6", "abc"),
        [TRAIN, "row 5", "column mfcc_6", "Expected a number. Received: 'abc'"],
    ),
    "mfcc columns differ": (lambda d: _drop_column(d / TEST, "mfcc_6"), [TEST, "Missing: mfcc_6"]),
    "CLASS missing": (
        lambda d: edit_csv(d / TRAIN, 2, "CLASS", ""),
        [TRAIN, "row 2", "column CLASS", "label is missing"],
    ),
    "CLASS non-integer": (
        lambda d: edit_csv(d / TRAIN, 4, "CLASS", "1.5"),
        [TRAIN, "row 4", "column CLASS", "integer", "'1.5'"],
    ),
    "CLASS text": (
        lambda d: edit_csv(d / TRAIN, 4, "CLASS", "BEACH"),
        [TRAIN, "row 4", "column CLASS", "'BEACH'"],
    ),
    "CLASS out of range": (
        lambda d: edit_csv(d / TRAIN, 6, "CLASS", "7"),
        [TRAIN, "row 6", "column CLASS", "0..2", "Received: 7"],
    ),
    "CLASS negative": (
        lambda d: edit_csv(d / TRAIN, 6, "CLASS", "-1"),
        [TRAIN, "row 6", "column CLASS", ">= 0"],
    ),
    "no CLASS column": (lambda d: _drop_column(d / TRAIN, "CLASS"), [TRAIN, "column CLASS"]),
    "class with no rows": (
        lambda d: (d / "class_names.txt").write_text("A\nB\nC\nD\n"),
        [TRAIN, "class 3 (D) has no rows"],
    ),
    "same IMAGE twice": (
        lambda d: edit_csv(d / TRAIN, 7, "IMAGE", "trainimg_00001.png"),
        [TRAIN, "row 7", "column IMAGE", "listed twice", "row 1"],
    ),
    "missing image file": (
        lambda d: (d / "testimg_00002.png").unlink(),
        [TEST, "row 2", "column IMAGE", "testimg_00002.png", "missing"],
    ),
    "truncated image": (
        lambda d: _truncate(d / "trainimg_00004.png"),
        [TRAIN, "row 4", "column IMAGE", "trainimg_00004.png", "truncated"],
    ),
    "empty image file": (
        lambda d: (d / "testimg_00000.png").write_bytes(b""),
        [TEST, "row 0", "column IMAGE", "testimg_00000.png", "empty"],
    ),
    "non-image file": (
        lambda d: (d / "trainimg_00009.png").write_text("not a picture"),
        [TRAIN, "row 9", "column IMAGE", "trainimg_00009.png", "not a picture"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_problem_is_named(case, tmp_path, capsys):
    data = write_dataset(tmp_path / "d", n_train=12, n_test=4)
    breakage, words = BROKEN[case]
    breakage(data)
    code, out, err = _run(data, capsys)
    assert code == 2
    assert err.startswith("mmtune: error: the data in")
    for word in words:
        assert word in err, f"{case}: {word!r} not in {err!r}"


def test_every_problem_listed_at_once(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", n_train=12, n_test=4)
    edit_csv(data / TRAIN, 1, "mfcc_1", "x")
    edit_csv(data / TRAIN, 2, "CLASS", "9")
    edit_csv(data / TEST, 3, "mfcc_2", "nan")
    code, _, err = _run(data, capsys)
    assert code == 2
    assert "3 problem(s)" in err
    assert "row 1" in err and "row 2" in err and f"{TEST}, row 3" in err


def test_valid_data_prints_summary(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", n_train=12, n_test=4, n_mfcc=5)
    code, out, _ = _run(data, capsys)
    assert code == 0
    assert "12 rows" in out and "4 rows" in out
    for name in ("PLACE-A", "PLACE-B", "PLACE-C"):
        assert name in out
    assert "32x32: 16" in out and "RGB: 16" in out
    assert "5 columns (mfcc_1 .. mfcc_5)" in out
    assert "the data is usable" in out


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_non_rgb_picture_is_converted_with_a_warning(mode, tmp_path, capsys):
    data = write_dataset(tmp_path / "d", n_train=12, n_test=4)
    path = data / "trainimg_00003.png"
    Image.open(path).convert(mode).save(path)
    code, out, _ = _run(data, capsys)
    assert code == 0
    assert f"{TRAIN}, row 3 (line 5), column IMAGE" in out and "converted to RGB" in out
    assert f"{mode}: 1" in out


def test_differing_size_resized_then_refused_under_strict(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", n_train=12, n_test=4)
    path = data / "testimg_00001.png"
    Image.open(path).resize((20, 24)).save(path)
    code, out, _ = _run(data, capsys)
    assert code == 0
    assert (
        f"{TEST}, row 1 (line 3), column IMAGE" in out
        and "Received: 'testimg_00001.png' of 20x24" in out
    )
    code, _, err = _run(data, capsys, "--strict")  # a cache hit: the stored problem turns fatal
    assert code == 2
    assert f"{TEST}, row 1" in err and "20x24" in err


def test_class_column_in_test_csv_is_a_warning(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", n_train=12, n_test=4)
    _rewrite(data / TEST, lambda ls: [ls[0] + ",CLASS"] + [line + ",1" for line in ls[1:]])
    code, out, _ = _run(data, capsys)
    assert code == 0
    assert f"{TEST}, column CLASS: the test file has a CLASS column; it is ignored" in out


def test_bad_resolution_is_a_message(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", n_train=12, n_test=4)
    with pytest.raises(SystemExit) as refused:  # at the parser, with the range it takes
        main(["data", "check", "--data", str(data), "--resolution", "0"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "Expected an integer between 8 and 1024 pixels. Received: 0" in err


def test_missing_data_dir(tmp_path, capsys):
    assert main(["data", "check", "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err
