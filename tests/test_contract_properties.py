"""Property-based tests of the data contract: whatever bytes or cells a data directory holds,
reading it gives usable tables or a DataError listing located problems, never another
exception (which the command line would print as a traceback).

Seeded (``derandomize``) and without an example database, so every run tries the same inputs.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tinydata import write_dataset

from mmtune.cli import main
from mmtune.data.contract import read_tables
from mmtune.errors import DataError

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A valid data set (6 labelled rows of 2 classes, 3 test rows) each example starts from."""
    return write_dataset(
        tmp_path_factory.mktemp("template") / "data",
        n_train=6,
        n_test=3,
        n_mfcc=2,
        n_classes=2,
        size=8,
    )


def _copy(template: Path) -> Path:
    root = Path(tempfile.mkdtemp(prefix="mmtune-example-"))
    shutil.copytree(template, root / "data")
    return root / "data"


def _read(data: Path) -> None:
    """``read_tables``: tables whose shapes agree, or a DataError whose problems are located."""
    try:
        tables = read_tables(data)
    except DataError as exc:
        assert exc.problems and str(exc)
        for problem in exc.problems:
            assert problem.file and problem.message
            assert problem.row is None or problem.row >= 0
        return
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)
    assert len(tables.train_images) == len(tables.train_labels) == len(tables.train_mfcc)
    assert len(tables.test_images) == len(tables.test_mfcc)
    assert np.isfinite(tables.train_mfcc).all() and np.isfinite(tables.test_mfcc).all()
    assert (tables.train_labels >= 0).all() and tables.train_labels.max() < tables.spec.n_classes


# -- random bytes ----------------------------------------------------------------------------


@SETTINGS
@given(
    raw=st.binary(max_size=2000),
    which=st.sampled_from(["data_train.csv", "data_test_novt.csv", "class_names.txt"]),
)
def test_random_bytes_in_any_file(raw, which, template):
    data = _copy(template)
    (data / which).write_bytes(raw)
    _read(data)


@SETTINGS
@given(raw=st.binary(max_size=400), keep=st.integers(0, 400))
def test_a_valid_csv_cut_anywhere_and_followed_by_random_bytes(raw, keep, template):
    data = _copy(template)
    path = data / "data_train.csv"
    path.write_bytes(path.read_bytes()[:keep] + raw)
    _read(data)


# -- random cells ----------------------------------------------------------------------------

NASTY = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e20",
        "-1e400",
        "1e39",
        "3.4e38",
        "0x10",
        "1_000",
        "0",
        "1",
        "-1",
        "1.0",
        "1.5",
        "99999999999999999999999",
        "1000000000",
        "9" * 400,
        "trainimg_00000.png",
        "./trainimg_00000.png",
        "../data/trainimg_00000.png",
        "/etc/passwd",
        "../../../../etc/passwd",
        "nowhere.png",
        ".",
        "..",
        "/",
        "a\x00b",
        "\ufeffIMAGE",
        "é",
        '"',
        "a,b",
        "line\nbreak",
        "\r",
        "x" * 5000,
    ]
)
CELL = st.one_of(
    NASTY,
    st.text(max_size=30),
    st.floats(allow_nan=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
)
HEADER = st.lists(
    st.sampled_from(["IMAGE", "CLASS", "mfcc_1", "mfcc_2", "mfcc_3", "", "x"]),
    min_size=1,
    max_size=5,
)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@SETTINGS
@given(draw=st.data())
def test_random_cells_under_a_random_header(draw, template):
    header = draw.draw(HEADER, label="header")
    rows = draw.draw(
        st.lists(st.lists(CELL, min_size=len(header), max_size=len(header)), max_size=6),
        label="rows",
    )
    which = draw.draw(st.sampled_from(["data_train.csv", "data_test_novt.csv"]), label="file")
    data = _copy(template)
    (data / which).write_text(_csv_text(header, rows), encoding="utf-8", errors="surrogatepass")
    _read(data)


@SETTINGS
@given(
    row=st.integers(0, 5),
    column=st.sampled_from(["IMAGE", "mfcc_1", "mfcc_2", "CLASS"]),
    value=CELL,
)
def test_one_random_cell_in_valid_data(row, column, value, template):
    data = _copy(template)
    path = data / "data_train.csv"
    lines = list(csv.reader(io.StringIO(path.read_text())))
    lines[row + 1][lines[0].index(column)] = value
    path.write_text(_csv_text(lines[0], lines[1:]), encoding="utf-8", errors="surrogatepass")
    _read(data)


@SETTINGS
@given(names=st.lists(st.one_of(NASTY, st.text(max_size=20)), max_size=6))
def test_random_class_names(names, template):
    data = _copy(template)
    (data / "class_names.txt").write_text(
        "\n".join(names), encoding="utf-8", errors="surrogatepass"
    )
    _read(data)


# -- the whole command -----------------------------------------------------------------------


@settings(
    SETTINGS,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.binary(max_size=600),
    which=st.sampled_from(["data_train.csv", "class_names.txt", "trainimg_00001.png"]),
)
def test_data_check_never_prints_a_traceback(raw, which, capsys, template):
    data = _copy(template)
    try:
        (data / which).write_bytes(raw)
        code = main(["data", "check", "--data", str(data), "--resolution", "8"])
        out, err = capsys.readouterr()
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)
    assert code in (0, 2) and "Traceback" not in out + err
    assert (code == 0) == ("the data is usable" in out)
