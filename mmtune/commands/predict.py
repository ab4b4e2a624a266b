"""``mmtune predict``: a submission (or class probabilities) from a saved model."""

from __future__ import annotations

import argparse
import sys

from mmtune.commands.common import resolve_data_dir
from mmtune.errors import MmtuneError


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

    writable_file(args.out, "--out")  # a folder, a FIFO, a path under a file: before any work
    model = load_model(args.model)
    takes = describe_model(model, args.model)  # inputs by name, sizes checked, before any data
    data_dir = resolve_data_dir(args.data)
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
