"""A small valid data set in the competition's layout, for tests to break.

from tinydata import write_dataset
data_dir = write_dataset(tmp_path, n_train=24, n_test=8)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

TRAIN_CSV = "data_train.csv"
TEST_CSV = "data_test_novt.csv"


def write_dataset(
    root: str | Path,
    n_train: int = 24,
    n_test: int = 8,
    n_mfcc: int = 6,
    n_classes: int = 3,
    size: int = 32,
    seed: int = 0,
    class_names: bool = True,
) -> Path:
    """Write ``root/data_train.csv``, ``root/data_test_novt.csv``, PNG pictures and
    (when ``class_names``) ``class_names.txt``; return ``root``.

    Every class has at least one training row (labels cycle 0..C-1). Each
    picture's colour and each row's MFCCs depend on its class, so a model can
    learn them.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = np.arange(n_train) % n_classes
    rng.shuffle(labels)
    header = ["IMAGE"] + [f"mfcc_{i + 1}" for i in range(n_mfcc)]

    def picture(name: str, label: int) -> None:
        base = np.array([(label * 70) % 256, (label * 130 + 40) % 256, (255 - label * 50) % 256])
        noise = rng.integers(-20, 21, size=(size, size, 3))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(root / name)

    def mfcc(label: int) -> list[str]:
        return [f"{v:.6f}" for v in rng.normal(loc=label * 2.0, scale=1.0, size=n_mfcc)]

    lines = [",".join(header + ["CLASS"])]
    for row, label in enumerate(labels):
        name = f"trainimg_{row:05d}.png"
        picture(name, int(label))
        lines.append(",".join([name] + mfcc(int(label)) + [str(int(label))]))
    (root / TRAIN_CSV).write_text("\n".join(lines) + "\n")

    lines = [",".join(header)]
    for row in range(n_test):
        label = int(rng.integers(n_classes))
        name = f"testimg_{row:05d}.png"
        picture(name, label)
        lines.append(",".join([name] + mfcc(label)))
    (root / TEST_CSV).write_text("\n".join(lines) + "\n")

    if class_names:
        names = [f"PLACE-{chr(ord('A') + i)}" for i in range(n_classes)]
        (root / "class_names.txt").write_text("\n".join(names) + "\n")
    return root


def edit_csv(path: str | Path, row: int, column: str, value: str) -> None:
    """Set one cell of a CSV written by :func:`write_dataset` (``row`` is 0-based data row)."""
    path = Path(path)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(column)] = value
    lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
