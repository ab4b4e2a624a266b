"""``mmtune predict``: a submission (or class probabilities) from a saved model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmtune.commands.common import resolve_data_dir
from mmtune.errors import MmtuneError

_PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _kept(model: Path, data_dir: Path | None, out: Path) -> dict[str, Path]:
    """What ``--out`` must never replace: the model read, the data's files (its CSVs, class
    names, test answers, and a picture ``--out`` would land on)."""
    from mmtune.data.contract import CLASS_NAMES_FILE, TEST_CSV, TRAIN_CSV

    kept = {"the --model file": model}
    for name in (TRAIN_CSV, TEST_CSV, CLASS_NAMES_FILE, "test_answers.csv"):
        if data_dir is not None:
            kept[f"the data's {name}"] = data_dir / name
    if out.suffix.lower() in _PICTURE_SUFFIXES:
        kept["an existing picture"] = out  # a submission is never a picture
    return kept


def predict(args: argparse.Namespace) -> int:
    from mmtune.locations import writable_file
    from mmtune.refit.prediction import (
        aligned_mfcc,
        describe_model,
        load_model,
        predict_probabilities,
        write_probabilities,
        write_submission,
    )

    # A folder, a FIFO, a path under a file, the model or a data file: before any work.
    out, model_path = Path(args.out), Path(args.model)
    writable_file(out, "--out", keep=_kept(model_path, None, out))
    model = load_model(model_path)
    takes = describe_model(model, args.model)  # inputs by name, sizes checked, before any data
    data_dir = resolve_data_dir(args.data)
    writable_file(out, "--out", keep=_kept(model_path, data_dir, out))
    from mmtune.data.cache import load_data

    data = load_data(data_dir, takes.resolution or 64)
    # By name, in the model's order: the same values in another column order predict the same.
    mfcc, note = aligned_mfcc(takes, data.spec.mfcc_columns, data.test_mfcc, str(data_dir))
    if takes.n_classes != data.spec.n_classes:
        raise MmtuneError(
            f"the model predicts {takes.n_classes} classes; the data in {data_dir} "
            f"has {data.spec.n_classes}"
        )
    if note:
        print(f"mmtune: {note}", file=sys.stderr)
    probs = predict_probabilities(model, data.test_images, mfcc)
    if args.probabilities:
        path = write_probabilities(args.out, probs, data.spec.class_names)
    else:
        path = write_submission(args.out, probs.argmax(axis=1))
    print(f"wrote {len(probs)} rows to {path}")
    return 0
