"""read_tables: shapes and names inferred from the data, rows kept in order, problems located."""

from __future__ import annotations

import numpy as np
import pytest
from tinydata import edit_csv, write_dataset

from mmtune.contract import DataSpec, read_tables
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
    np.testing.assert_allclose(tables.train_mfcc[:, 0], [float(line.split(",")[1]) for line in lines],
                               rtol=1e-6)
    assert list(tables.test_images) == [f"testimg_{i:05d}.png" for i in range(5)]
    assert tables.warnings == ()


def test_class_names_from_labels_without_side_file(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_classes=3, class_names=False)
    assert read_tables(data).spec.class_names == ("0", "1", "2")


def test_a_gap_in_the_labels_is_a_class_with_no_rows(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_classes=3, class_names=False)
    lines = (data / "data_train.csv").read_text().splitlines()
    lines = [lines[0]] + [line[:-1] + ("3" if line.endswith("2") else line[-1]) for line in lines[1:]]
    (data / "data_train.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as exc:
        read_tables(data)
    assert "class 2 (2) has no rows" in str(exc.value)


def test_problems_are_located(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_test=3)
    edit_csv(data / "data_test_novt.csv", 2, "mfcc_3", "oops")
    with pytest.raises(DataError) as exc:
        read_tables(data)
    assert exc.value.problems == [Problem("data_test_novt.csv", "Expected a number. Received: 'oops'",
                                          row=2, column="mfcc_3")]


def test_columns_in_another_order_are_matched_by_name(tmp_path):
    data = write_dataset(tmp_path, n_train=9, n_test=3, n_mfcc=3)
    path = data / "data_test_novt.csv"
    rows = [line.split(",") for line in path.read_text().splitlines()]
    path.write_text("\n".join(",".join([r[0], r[3], r[1], r[2]]) for r in rows) + "\n")
    tables = read_tables(data)
    assert tables.spec.mfcc_columns == ("mfcc_1", "mfcc_2", "mfcc_3")
    assert float(rows[1][1]) == pytest.approx(tables.test_mfcc[0, 0], rel=1e-6)
    assert [w.severity for w in tables.warnings] == ["warning"]


def test_dataspec_is_frozen():
    spec = DataSpec(("a", "b"), ("x",), (256, 256))
    assert spec.n_mfcc == 2 and spec.n_classes == 1
    with pytest.raises(AttributeError):
        spec.image_size = (1, 1)  # type: ignore[misc]


def test_contract_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, mmtune.contract, mmtune.cache; sys.exit(3 if 'tensorflow' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
