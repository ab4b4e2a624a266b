"""Import TensorFlow once, quietly, with the process set up for training.

TensorFlow 2.21 writes start-up lines to the C-level stderr before its
logging is initialised (oneDNN notices, "Could not find cuda drivers"),
which no environment variable silences; they are hidden here during the
import only. GPUs get memory growth, so several trials can share one.

``MMTUNE_EAGER=1`` runs every TensorFlow function eagerly
(``tf.config.run_functions_eagerly``): no graph is traced, so a model's first
step costs no seconds of tracing but every later step is slower. It is for
debugging a space's model (errors point at the line that raised), and for tiny
data, where tracing costs more than the training: the test suite sets it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType

__all__ = [
    "import_tensorflow",
    "set_precision",
    "clear_keras_session",
    "PRECISIONS",
    "jit_setting",
    "device_description",
    "EAGER_ENV",
    "eager_requested",
]

EAGER_ENV = "MMTUNE_EAGER"

PRECISIONS = ("float32", "mixed")


@contextlib.contextmanager
def _quiet_c_stderr() -> Iterator[None]:
    if os.environ.get("MMTUNE_TF_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow() -> ModuleType:
    """``tensorflow``, imported without start-up noise, GPUs set to grow their memory.

    Every module that needs TensorFlow or Keras calls this before its own ``import keras``:
    a bare ``import keras`` imports TensorFlow with its C-level start-up lines, and the
    device probing (``cuInit`` on a CPU machine) would then print later, outside any quiet
    section.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return _start_tensorflow()


@functools.cache
def _start_tensorflow() -> ModuleType:
    """Import TensorFlow and Keras and probe the devices once, with the C-level stderr hidden."""
    with _quiet_c_stderr():
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
    _set_aside_for_the_collector()
    return tf


def _set_aside_for_the_collector() -> None:
    """Keep the garbage collector off what the imports made (``gc.freeze``).

    TensorFlow, Keras and their imports leave some 400,000 objects that live as long as the
    process. A full collection walked them all, 0.4 s on a 2-core machine, and Keras and Optuna
    ask for one after every model and every trial (5 collections, 2.4 s, in a search that
    refused two configurations). Set aside, they are walked no more; what is made later,
    models included, is collected as before.
    """
    gc.collect()  # garbage the imports left is freed, not set aside
    gc.freeze()


def eager_requested() -> bool:
    """True when ``$MMTUNE_EAGER`` asks for eager execution (set, and not ``0``)."""
    return os.environ.get(EAGER_ENV, "0").strip() not in ("", "0")


def set_precision(precision: str) -> str:
    """Set Keras' global dtype policy; returns the policy's name.

    ``mixed`` computes in float16 on a GPU (bfloat16 on a CPU, where float16 has no fast
    kernels) and keeps variables and the softmax in float32; ``float32`` is the seed's.
    """
    tf = import_tensorflow()  # first: a bare `import keras` would import TensorFlow loudly
    import keras

    if precision not in PRECISIONS:
        from mmtune.errors import MmtuneError

        raise MmtuneError(f"Expected a precision among {PRECISIONS}. Received: {precision!r}")
    if precision == "float32":
        policy = "float32"
    else:
        policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


def clear_keras_session(free_memory: bool = True) -> None:
    """``keras.backend.clear_session()`` (free what earlier models left), keeping the global
    dtype policy: Keras resets it to float32 there, so ``--precision mixed`` used to hold for
    a process's first model only."""
    import keras

    policy = keras.mixed_precision.dtype_policy()
    keras.backend.clear_session(free_memory=free_memory)
    keras.mixed_precision.set_dtype_policy(policy)


def jit_setting(jit: str) -> bool | str:
    """``--jit on|off|auto`` as Keras' ``jit_compile`` value."""
    return {"on": True, "off": False}.get(jit, "auto")


def device_description() -> str:
    """Where trials train: ``"GPU (NVIDIA H100 80GB HBM3)"`` or ``"CPU (2 cores)"``."""
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
        ]
        return f"GPU ({', '.join(names)})"
    return f"CPU ({os.cpu_count()} cores)"
