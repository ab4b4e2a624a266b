"""``mmtune predict``: a submission (or class probabilities) from a saved model."""

from __future__ import annotations

import argparse

from mmtune.commands.common import resolve_data_dir


def predict(args: argparse.Namespace) -> int:
    from mmtune.prediction import (load_model, model_resolution, predict_probabilities,
                                   write_probabilities, write_submission)

    model = load_model(args.model)
    data_dir = resolve_data_dir(args.data)
    from mmtune.cache import load_data

    data = load_data(data_dir, model_resolution(model) or 64)
    n_mfcc = model.inputs[-1].shape[-1] if len(model.inputs[-1].shape) == 2 else None
    if n_mfcc is not None and n_mfcc != data.spec.n_mfcc:
        from mmtune.errors import MmtuneError

        raise MmtuneError(f"the model takes {n_mfcc} MFCC columns; the data in {data_dir} has "
                          f"{data.spec.n_mfcc}")
    probs = predict_probabilities(model, data.test_images, data.test_mfcc)
    if args.probabilities:
        path = write_probabilities(args.out, probs, data.spec.class_names)
    else:
        path = write_submission(args.out, probs.argmax(axis=1))
    print(f"wrote {len(probs)} rows to {path}")
    return 0
