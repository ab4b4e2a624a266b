"""``mmtune predict``: a submission (or class probabilities) from a saved model."""

from __future__ import annotations

import argparse

from mmtune.commands.common import resolve_data_dir
from mmtune.errors import MmtuneError


def predict(args: argparse.Namespace) -> int:
    from mmtune.locations import writable_file
    from mmtune.refit.prediction import (
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
    if takes.n_mfcc is not None and takes.n_mfcc != data.spec.n_mfcc:
        raise MmtuneError(
            f"the model takes {takes.n_mfcc} MFCC columns; the data in {data_dir} "
            f"has {data.spec.n_mfcc}"
        )
    if takes.n_classes != data.spec.n_classes:
        raise MmtuneError(
            f"the model predicts {takes.n_classes} classes; the data in {data_dir} "
            f"has {data.spec.n_classes}"
        )
    probs = predict_probabilities(model, data.test_images, data.test_mfcc)
    if args.probabilities:
        path = write_probabilities(args.out, probs, data.spec.class_names)
    else:
        path = write_submission(args.out, probs.argmax(axis=1))
    print(f"wrote {len(probs)} rows to {path}")
    return 0
