"""read_tables: shapes and names inferred from the data, rows kept in order, problems located."""

from __future__ import annotations

import numpy as np
import pytest
from tinydata import edit_csv, write_dataset

from mmtune.data.contract import DataSpec, read_tables
from mmtune.errors import DataError, Problem


def test_infers_columns_classes_and_keeps_row_order(tmp_path):
    data = write_dataset(tmp_path, n_train=15, n_test=5, n_mfcc=7, n_classes=4)
    tables = read_tables(data)
    assert tables.spec.mfcc_columns == tuple(f"mfcc_{i}" for i in range(1, 8))
    assert tables.spec.n_mfcc == 7 and tables.spec.n_classes == 4
    assert tables.spec.class_names == ("PLACE-A", "PLACE-B", "PLACE-C", "PLACE-D")
    assert tables.spec.image_size is None
    assert tables.train_mfcc.dtype == np.float32 and tables.train_mfcc.shape == (15, 7)
    assert tables.train_labels.dtype == np.int32
    assert tables.test_mfcc.shape == (5, 7)
    lines = (data / "data_train.csv").read_text().splitlines()[1:]
    assert list(tables.train_images) == [line.split(",")[0] for line in lines]
    assert tables.train_labels.tolist() == [int(line.split(",")[-1]) for line in lines]
    np.testing.assert_allclose(
        tables.train_mfcc[:, 0], [float(line.split(",")[1]) for line in lines], rtol=1e-6
    )
    assert list(tables.test_images) == [f"testimg_{i:05d}.png" for i in range(5)]
    assert tables.warnings == ()


def test_class_names_from_labels_without_side_file(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_classes=3, class_names=False)
    assert read_tables(data).spec.class_names == ("0", "1", "2")


def test_a_gap_in_the_labels_is_a_class_with_no_rows(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_classes=3, class_names=False)
    lines = (data / "data_train.csv").read_text().splitlines()
    lines = [lines[0]] + [
        line[:-1] + ("3" if line.endswith("2") else line[-1]) for line in lines[1:]
    ]
    (data / "data_train.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as exc:
        read_tables(data)
    assert "class 2 (2) has no rows" in str(exc.value)


def test_problems_are_located(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_test=3)
    edit_csv(data / "data_test_novt.csv", 2, "mfcc_3", "oops")
    with pytest.raises(DataError) as exc:
        read_tables(data)
    assert exc.value.problems == [
        Problem("data_test_novt.csv", "Expected a number. Received: 'oops'", row=2, column="mfcc_3")
    ]


def test_columns_in_another_order_are_matched_by_name(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_test=3, n_mfcc=3)
    path = data / "data_test_novt.csv"
    rows = [line.split(",") for line in path.read_text().splitlines()]
    path.write_text("\n".join(",".join([r[0], r[3], r[1], r[2]]) for r in rows) + "\n")
    tables = read_tables(data)
    assert tables.spec.mfcc_columns == ("mfcc_1", "mfcc_2", "mfcc_3")
    assert float(rows[1][1]) == pytest.approx(tables.test_mfcc[0, 0], rel=1e-6)
    assert [w.severity for w in tables.warnings] == ["warning"]


def test_a_row_with_more_fields_than_the_header_is_located(tmp_path):
    """A trailing comma on every data row, not on the header: pandas took the first column for
    the index and shifted every column left (a picture named by an MFCC value)."""
    data = write_dataset(tmp_path, n_train=9, n_test=3)
    path = data / "data_train.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *(line + "," for line in lines[1:])]) + "\n")
    with pytest.raises(DataError) as exc:
        read_tables(data)
    width = len(lines[0].split(","))
    assert exc.value.problems == [
        Problem(
            "data_train.csv",
            f"Expected {width} fields, as the header has. Received {width + 1}: more",
            row=row,
        )
        for row in range(9)
    ]


def test_a_header_column_without_a_name_is_refused(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_test=3, n_mfcc=3)
    path = data / "data_test_novt.csv"
    path.write_text("".join(line + ",\n" for line in path.read_text().splitlines()))
    with pytest.raises(DataError) as exc:
        read_tables(data)
    assert exc.value.problems == [
        Problem(
            "data_test_novt.csv",
            "Expected a name for every column of the header. Received none for column 5 "
            "(of 5; a trailing comma?)",
        )
    ]


def test_blank_lines_and_spaces_after_commas_are_read_as_pandas_reads_them(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_test=3, n_mfcc=3)
    path = data / "data_train.csv"
    before = read_tables(data)
    lines = path.read_text().splitlines()
    spaced = [
        ", ".join(f'"{c}"' if i == 1 else c for i, c in enumerate(line.split(",")))
        for line in lines
    ]
    path.write_text("\n\n".join([spaced[0], "   ", *spaced[1:]]) + "\n\n")
    after = read_tables(data)
    assert after.train_images == before.train_images
    np.testing.assert_array_equal(after.train_mfcc, before.train_mfcc)
    np.testing.assert_array_equal(after.train_labels, before.train_labels)


def test_dataspec_is_frozen():
    spec = DataSpec(("a", "b"), ("x",), (256, 256))
    assert spec.n_mfcc == 2 and spec.n_classes == 1
    with pytest.raises(AttributeError):
        spec.image_size = (1, 1)  # type: ignore[misc]


def test_contract_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, mmtune.data.contract, mmtune.data.cache; sys.exit(3 if 'tensorflow' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- pictures stay inside the data directory (issue 13, item 6) --------------------------------


def _image_problem(data) -> str:
    with pytest.raises(DataError) as exc:
        read_tables(data)
    (problem,) = exc.value.problems
    assert (problem.file, problem.row, problem.column) == ("data_train.csv", 1, "IMAGE")
    return problem.message


@pytest.fixture
def inside_and_outside(tmp_path):
    data = write_dataset(tmp_path / "data", n_train=6, n_test=2)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes((data / "trainimg_00001.png").read_bytes())
    return data, outside


def test_an_absolute_picture_path_is_refused(inside_and_outside):
    data, outside = inside_and_outside
    edit_csv(data / "data_train.csv", 1, "IMAGE", str(outside / "secret.png"))
    assert "absolute path" in _image_problem(data)


def test_a_dotdot_escape_is_refused(inside_and_outside):
    data, _ = inside_and_outside
    edit_csv(data / "data_train.csv", 1, "IMAGE", "../outside/secret.png")
    assert "leads outside it" in _image_problem(data)


def test_a_symlink_pointing_outside_is_refused(inside_and_outside):
    data, outside = inside_and_outside
    (data / "trainimg_00001.png").unlink()
    (data / "trainimg_00001.png").symlink_to(outside / "secret.png")
    assert "leads outside it" in _image_problem(data)


def test_a_refusal_does_not_tell_whether_the_outside_file_exists(inside_and_outside):
    data, _ = inside_and_outside
    messages = []
    for target in ("../../../../../../etc/passwd", "../../../../../../etc/no-such-file-here"):
        edit_csv(data / "data_train.csv", 1, "IMAGE", target)
        messages.append(_image_problem(data).replace(target, "X"))
    assert messages[0] == messages[1]
    assert "missing" not in messages[0]


def test_a_symlink_loop_is_refused(inside_and_outside):
    data, _ = inside_and_outside
    (data / "loop.png").symlink_to(data / "loop.png")
    edit_csv(data / "data_train.csv", 1, "IMAGE", "loop.png")
    message = _image_problem(data)
    assert "loop.png" in message


def test_links_and_folders_inside_are_fine(inside_and_outside, tmp_path):
    data, _ = inside_and_outside
    (data / "pictures").mkdir()
    (data / "trainimg_00001.png").rename(data / "pictures" / "one.png")
    edit_csv(data / "data_train.csv", 1, "IMAGE", "pictures/one.png")
    (data / "trainimg_00002.png").rename(data / "pictures" / "two.png")
    (data / "trainimg_00002.png").symlink_to(data / "pictures" / "two.png")  # a link inside
    linked = tmp_path / "linked-data"
    linked.symlink_to(data)  # the data directory itself reached through a link
    tables = read_tables(linked)
    assert tables.image_path("pictures/one.png") == (data / "pictures" / "one.png").resolve()
    assert tables.image_path("trainimg_00002.png") == (data / "pictures" / "two.png").resolve()


def test_the_same_file_under_two_names_is_listed_twice(inside_and_outside):
    data, _ = inside_and_outside
    edit_csv(data / "data_train.csv", 1, "IMAGE", "./trainimg_00000.png")
    assert "listed twice (first at row 0)" in _image_problem(data)


# -- classes and class names (issue 13, item 11) -----------------------------------------------


def test_a_bom_in_class_names_is_not_part_of_the_first_name(tmp_path):
    data = write_dataset(tmp_path, n_train=6, n_classes=3)
    (data / "class_names.txt").write_bytes("\ufeffFOREST\nCITY\nBEACH\n".encode("utf-8"))
    assert read_tables(data).spec.class_names == ("FOREST", "CITY", "BEACH")


def test_class_names_that_are_not_utf8_are_a_problem(tmp_path):
    data = write_dataset(tmp_path, n_train=6, n_classes=3)
    (data / "class_names.txt").write_bytes("FOR\xcaT\nCITY\nBEACH\n".encode("latin-1"))
    with pytest.raises(DataError) as exc:
        read_tables(data)
    (problem,) = exc.value.problems
    assert problem.file == "class_names.txt" and "Expected UTF-8 text" in problem.message


def test_one_huge_class_index_allocates_nothing(tmp_path):
    """A count per class up to 10**9 would be 8 GB; the check refuses the index first.
    Measured as memory the check allocated (numpy's arrays are traced), not as time."""
    import tracemalloc

    data = write_dataset(tmp_path, n_train=6, n_classes=3, class_names=False)
    edit_csv(data / "data_train.csv", 4, "CLASS", "1000000000")
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as exc:
            read_tables(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:,.1f} MB allocated to read 6 rows"
    (problem,) = exc.value.problems
    assert (problem.row, problem.column) == (4, "CLASS") and "below 10,000" in problem.message


def test_classes_cannot_outnumber_the_labelled_rows(tmp_path):
    data = write_dataset(tmp_path, n_train=6, n_classes=3, class_names=False)
    edit_csv(data / "data_train.csv", 2, "CLASS", "40")
    with pytest.raises(DataError) as exc:
        read_tables(data)
    (problem,) = exc.value.problems
    assert (problem.row, problem.column) == (2, "CLASS")
    assert "at most the 6 labelled rows" in problem.message and "41 classes" in problem.message


def test_mfcc_values_near_the_float32_limit_are_refused(tmp_path):
    data = write_dataset(tmp_path, n_train=6, n_test=2)
    edit_csv(data / "data_train.csv", 3, "mfcc_2", "3.0e38")
    edit_csv(data / "data_test_novt.csv", 1, "mfcc_1", "-1e300")
    with pytest.raises(DataError) as exc:
        read_tables(data)
    located = {(p.file, p.row, p.column) for p in exc.value.problems}
    assert located == {("data_train.csv", 3, "mfcc_2"), ("data_test_novt.csv", 1, "mfcc_1")}
    assert all("magnitude at most 1e+18" in p.message for p in exc.value.problems)


def test_windows_absolute_paths_are_refused_but_a_colon_is_a_name(inside_and_outside):
    data, _ = inside_and_outside
    edit_csv(data / "data_train.csv", 1, "IMAGE", "C:\\pictures\\x.png")
    assert "absolute path" in _image_problem(data)
    (data / "trainimg_00001.png").rename(data / "a:b.png")
    edit_csv(data / "data_train.csv", 1, "IMAGE", "a:b.png")
    assert read_tables(data).image_path("a:b.png") == (data / "a:b.png").resolve()
