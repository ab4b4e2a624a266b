"""Keras on TensorFlow: imported quietly, GPUs set to grow their memory.

TensorFlow 2.21 writes start-up lines to the C-level stderr before its logging is
initialised (oneDNN notices, "Could not find cuda drivers"), which no environment variable
silences; they are hidden here during the import only. GPUs get memory growth, so several
trials and worker processes can share one. ``MMTUNE_EAGER=1`` runs every TensorFlow function
eagerly (``tf.config.run_functions_eagerly``), mmtune's own traced functions included.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mmtune.keras_backend._quiet import quiet_c_stderr

if TYPE_CHECKING:
    import keras
    import numpy as np

    from mmtune.keras_backend import DeviceMemory, Forward

MIXED_ON_GPU = "mixed_float16"
RUN_EAGERLY_IN_COMPILE = False  # tf.config.run_functions_eagerly reaches every tf.function


def start() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mmtune.keras_backend import eager_requested

    with quiet_c_stderr():
        import keras  # noqa: F401
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            with contextlib.suppress(RuntimeError):  # already initialised
                tf.config.experimental.set_memory_growth(gpu, True)
        tf.constant(0)  # start the runtime now, while its device probing is hidden
    tf.get_logger().setLevel("ERROR")  # retracing notices: every trial builds a new model
    if eager_requested():
        tf.config.run_functions_eagerly(True)
        # tf.data still traces its own functions, and says so once per dataset.
        warnings.filterwarnings("ignore", message="Even though the `tf.config.experimental_run")


def gpu_names() -> list[str]:
    import tensorflow as tf

    return [
        str(tf.config.experimental.get_device_details(g).get("device_name", g.name))
        for g in tf.config.list_physical_devices("GPU")
    ]


def device_memory() -> DeviceMemory | None:
    import tensorflow as tf

    from mmtune.keras_backend import DeviceMemory

    if not tf.config.list_logical_devices("GPU"):
        return None
    info = tf.config.experimental.get_memory_info("GPU:0")
    return DeviceMemory(info["current"] / 2**20, info["peak"] / 2**20, None)


def is_out_of_memory(exc: BaseException) -> bool:
    import tensorflow as tf

    return isinstance(exc, tf.errors.ResourceExhaustedError)


def forward_pass(model: keras.Model) -> Forward:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def forward(inputs: object) -> object:
        return model(inputs, training=True)

    return forward


def enable_determinism() -> None:
    from mmtune.keras_backend import start

    start()
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def on_device(arrays: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
    import numpy as np
    import tensorflow as tf

    device = "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"
    with tf.device(device):
        return {name: tf.constant(np.asarray(a)) for name, a in arrays.items()}


def gather_on_device(tensors: Mapping[str, Any], rows: np.ndarray) -> Mapping[str, Any]:
    import tensorflow as tf

    return {name: tf.gather(t, rows) for name, t in tensors.items()}


def shared_device_environment(processes: int) -> Mapping[str, str]:
    return {}  # every process's GPUs grow their memory on demand (start)


def compilations() -> Mapping[str, float]:
    return {}
