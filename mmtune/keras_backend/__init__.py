"""What differs between Keras 3's backends, in one place: ``data`` and ``model`` read the same
whatever the backend.

Keras runs one model on TensorFlow, JAX or PyTorch, chosen by ``$KERAS_BACKEND`` (else Keras'
own ``keras.json``, else TensorFlow). mmtune's networks speak ``keras.ops`` only; what is not
the same on every backend is the plumbing around them, and it lives here, one module a
backend (``_tensorflow``, ``_jax``, ``_torch``), each with the same functions:

- starting it quietly, once (TensorFlow's C-level start-up lines; JAX's compilation cache);
- how batches reach ``fit`` (``tf.data`` on TensorFlow, a thread-fed ``keras.utils.PyDataset``
  elsewhere: :mod:`mmtune.data.feed` asks :func:`uses_tf_data`);
- the data on the training device (``--feed device``), a compiled training-mode forward pass
  (precise BatchNorm), out-of-memory errors, deterministic kernels, the accelerator's name
  and memory.

Nothing here imports a backend before it is asked to: ``mmtune --help`` imports none, and
under JAX nothing imports TensorFlow.

>>> from mmtune import keras_backend
>>> keras_backend.name() in keras_backend.BACKENDS     # doctest: +SKIP
True
>>> keras_backend.start()                              # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras
    import numpy as np

    from mmtune.data.picture_file import Pictures

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "EAGER_ENV",
    "PRECISIONS",
    "DeviceMemory",
    "Forward",
    "accelerator",
    "clear_keras_session",
    "device_description",
    "device_memory",
    "eager_requested",
    "enable_determinism",
    "forward_pass",
    "is_out_of_memory",
    "jit_setting",
    "name",
    "on_device",
    "gather_on_device",
    "run_eagerly",
    "set_precision",
    "start",
    "uses_tf_data",
    "compilations",
    "shared_device_environment",
]

BACKEND_ENV = "KERAS_BACKEND"
BACKENDS = ("tensorflow", "jax", "torch")
EAGER_ENV = "MMTUNE_EAGER"
PRECISIONS = ("float32", "mixed")

#: A compiled training-mode call of a model on one batch's inputs (precise BatchNorm).
Forward = Callable[[object], object]


@dataclass(frozen=True)
class DeviceMemory:
    """An accelerator's memory as its backend sees it, in MB: in use now, the most in use
    since the process began, and what the process may use (``None`` where the backend does not
    say: TensorFlow grows its share on demand)."""

    in_use_mb: float
    peak_mb: float
    limit_mb: float | None


def name() -> str:
    """The Keras backend this process runs: Keras' own answer once Keras is imported, else
    ``$KERAS_BACKEND``, else ``keras.json`` (``$KERAS_HOME`` or ``~/.keras``), else
    ``tensorflow``, as Keras itself decides. Imports nothing."""
    keras_module = sys.modules.get("keras")
    config = getattr(keras_module, "config", None)
    if config is not None and hasattr(config, "backend"):
        return str(config.backend())
    chosen = os.environ.get(BACKEND_ENV, "").strip()
    if chosen:
        return chosen
    home = os.environ.get("KERAS_HOME") or str(Path("~/.keras").expanduser())
    try:
        with open(Path(home) / "keras.json", encoding="utf-8") as fh:
            chosen = str(json.load(fh).get("backend", "")).strip()
    except (OSError, ValueError, AttributeError):
        chosen = ""
    return chosen or "tensorflow"


def _impl() -> ModuleType:
    """The module of this process's backend; an unknown backend is a user's error."""
    backend = name()
    if backend not in BACKENDS:
        from mmtune.errors import MmtuneError

        raise MmtuneError(
            f"Expected ${BACKEND_ENV} among {', '.join(BACKENDS)}. Received: {backend!r}"
        )
    import importlib

    return importlib.import_module(f"mmtune.keras_backend._{backend}")


def start() -> None:
    """Import Keras on its backend, once, quietly, with the process set up for training.

    Every module that builds or trains a model calls this before its own ``import keras``:
    a bare ``import keras`` on TensorFlow prints TensorFlow's C-level start-up lines."""
    _start()


@functools.cache
def _start() -> None:
    _impl().start()
    _set_aside_for_the_collector()


def _set_aside_for_the_collector() -> None:
    """Keep the garbage collector off what the imports made (``gc.freeze``).

    TensorFlow, Keras and their imports leave some 400,000 objects that live as long as the
    process. A full collection walked them all, 0.4 s on a 2-core machine, and Keras and Optuna
    ask for one after every model and every trial (5 collections, 2.4 s, in a search that
    refused two configurations). Set aside, they are walked no more; what is made later,
    models included, is collected as before.
    """
    import gc

    gc.collect()  # garbage the imports left is freed, not set aside
    gc.freeze()


def eager_requested() -> bool:
    """True when ``$MMTUNE_EAGER`` asks for eager execution (set, and not ``0``): no step is
    traced or compiled, so a model's first step costs no seconds of compilation but every later
    step is slower. For debugging a space's model (errors point at the line that raised), and
    for tiny data, where compiling costs more than the training: the test suite sets it."""
    return os.environ.get(EAGER_ENV, "0").strip() not in ("", "0")


def run_eagerly() -> bool:
    """``compile(run_eagerly=...)`` for this backend: JAX's and PyTorch's way to
    :func:`eager_requested` (TensorFlow's is ``tf.config.run_functions_eagerly``, set once at
    start, which also reaches the functions mmtune traces itself)."""
    start()
    return bool(_impl().RUN_EAGERLY_IN_COMPILE and eager_requested())


def uses_tf_data() -> bool:
    """True when batches reach ``fit`` as ``tf.data`` datasets (TensorFlow); elsewhere they
    come from a ``keras.utils.PyDataset`` fed by threads (:mod:`mmtune.data.feed`)."""
    return name() == "tensorflow"


def set_precision(precision: str) -> str:
    """Set Keras' global dtype policy; returns the policy's name.

    ``mixed`` computes in a 16-bit float and keeps variables and the softmax in float32:
    bfloat16 on a CPU (where float16 has no fast kernels) and on JAX's GPUs (no loss scaling;
    an H100/H200 runs it at full rate), float16 on TensorFlow's GPUs. ``float32`` is the seed's.
    """
    from mmtune.errors import MmtuneError

    if precision not in PRECISIONS:
        raise MmtuneError(f"Expected a precision among {PRECISIONS}. Received: {precision!r}")
    start()
    import keras

    if precision == "float32":
        policy = "float32"
    else:
        policy = "mixed_bfloat16" if not accelerator() else _impl().MIXED_ON_GPU
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


def clear_keras_session(free_memory: bool = True) -> None:
    """``keras.backend.clear_session()`` (free what earlier models left), keeping the global
    dtype policy: Keras resets it to float32 there, so ``--precision mixed`` used to hold for
    a process's first model only."""
    start()
    import keras

    policy = keras.mixed_precision.dtype_policy()
    keras.backend.clear_session(free_memory=free_memory)
    keras.mixed_precision.set_dtype_policy(policy)


def jit_setting(jit: str) -> bool | str:
    """``--jit on|off|auto`` as Keras' ``jit_compile`` value."""
    return {"on": True, "off": False}.get(jit, "auto")


def accelerator() -> str | None:
    """The accelerator trials train on (``"GPU"``), or ``None`` on a CPU."""
    start()
    return "GPU" if _impl().gpu_names() else None


def device_description() -> str:
    """Where trials train and on what: ``"GPU (NVIDIA H200), jax"`` or ``"CPU (2 cores),
    tensorflow"``."""
    start()
    gpus = _impl().gpu_names()
    where = f"GPU ({', '.join(gpus)})" if gpus else f"CPU ({os.cpu_count()} cores)"
    return f"{where}, {name()}"


def device_memory() -> DeviceMemory | None:
    """The accelerator's memory (the first one's), or ``None`` on a CPU."""
    start()
    return _impl().device_memory()


def is_out_of_memory(exc: BaseException) -> bool:
    """True when ``exc`` is the backend's out-of-memory error (host or device)."""
    return bool(_impl().is_out_of_memory(exc))


def forward_pass(model: keras.Model) -> Forward:
    """A compiled training-mode forward pass of ``model`` whose layers' state (BatchNorm's
    moving statistics) is updated as a training step would update it; momentum is read when it
    is traced. Eager under :func:`eager_requested`."""
    start()
    if eager_requested():
        return lambda inputs: model(inputs, training=True)
    return _impl().forward_pass(model)


def enable_determinism() -> None:
    """Deterministic kernels from here on (refit: the same seed gives the same model). Call it
    before anything else of the backend runs: JAX reads it when it starts its devices."""
    _impl().enable_determinism()


def on_device(arrays: Mapping[str, Pictures | np.ndarray]) -> dict[str, Any]:
    """``arrays`` copied once to the training device (``--feed device``): the GPU's memory when
    there is one, else they stay where they are."""
    start()
    return dict(_impl().on_device(arrays))


def gather_on_device(tensors: Mapping[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The ``rows`` of device-resident ``tensors`` (from :func:`on_device`), gathered there:
    only the row indices cross from the host."""
    return dict(_impl().gather_on_device(tensors, rows))


def compilations() -> dict[str, float]:
    """The programs this process compiled, those read back from the persistent compilation
    cache, and the seconds both took: ``{"compiled": N, "cache_hits": M, "compile_s": S}``
    (JAX; empty where the backend does not say)."""
    return dict(_impl().compilations())


def shared_device_environment(processes: int) -> dict[str, str]:
    """Environment variables for each of ``processes`` worker processes that share one GPU
    (JAX: no preallocation of 75% of it each, and a share of it each). Imports no backend."""
    return dict(_impl().shared_device_environment(processes))
