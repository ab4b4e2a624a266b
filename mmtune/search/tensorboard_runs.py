"""TensorBoard runs for ``--tensorboard``: one log directory per trial, with its HParams."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mmtune.model.params import Params

if TYPE_CHECKING:
    import keras

__all__ = ["trial_callbacks"]


def trial_callbacks(log_dir: Path, params: Params) -> list[keras.callbacks.Callback]:
    """Keras callbacks writing the trial's curves and its hyperparameters under ``log_dir``."""
    import keras
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api

    log_dir.mkdir(parents=True, exist_ok=True)
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        hparams_api.hparams(
            {
                k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                for k, v in params.items()
            }
        )
    return [
        keras.callbacks.TensorBoard(
            log_dir=str(log_dir), write_graph=False, histogram_freq=0, update_freq="epoch"
        )
    ]
