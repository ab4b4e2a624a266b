"""Keras on JAX: the compilation cache on disk, GPU memory as JAX reports it.

XLA compiles every training step, prediction and forward pass before its first run: seconds
for the seed's network. A configuration trained again (the finalists' race, the honest check,
refit's seeds, a process restarted for memory) builds the same programs, so they are kept in
JAX's persistent compilation cache under mmtune's cache directory (``<cache>/xla``) and read
back instead of compiled again (:func:`compilations` counts both).

JAX takes 75% of a GPU's memory when it starts. Worker processes sharing one GPU are started
with preallocation off (:func:`shared_device_environment`), each taking what it uses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mmtune.keras_backend._quiet import quiet_c_stderr

if TYPE_CHECKING:
    import keras
    import numpy as np

    from mmtune.keras_backend import DeviceMemory, Forward

MIXED_ON_GPU = "mixed_bfloat16"
RUN_EAGERLY_IN_COMPILE = True

#: XLA's flag for deterministic GPU kernels (scatter-adds, convolution algorithms).
DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"
#: Set for processes that share one GPU with others: JAX then allocates what it uses.
PREALLOCATE_ENV = "XLA_PYTHON_CLIENT_PREALLOCATE"
#: The share of a GPU a process may take: this name until jaxlib 0.9, then the second.
FRACTION_ENVS = ("XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_CLIENT_MEM_FRACTION")
#: The share of a GPU that several processes sharing it may take together.
SHARED_FRACTION = 0.9

_counts = {"compiled": 0.0, "cache_hits": 0.0, "compile_s": 0.0}


def start() -> None:
    for noisy in ("jax._src.xla_bridge", "jax._src.compiler", "jax._src.cache_key"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with quiet_c_stderr():
        import jax
        import keras  # noqa: F401

        jax.devices()  # start the runtime while its device probing is hidden
    _use_compilation_cache(jax)
    _count_compilations(jax)


def _use_compilation_cache(jax: Any) -> None:
    """JAX's persistent compilation cache in ``<cache>/xla`` (every program, however quick to
    compile: a tiny one still costs more to compile than to read). Left off, with a warning,
    where that folder cannot be made."""
    from mmtune.locations import cache_root

    folder = cache_root() / "xla"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        import warnings

        warnings.warn(f"no compilation cache ({folder}: {exc.strerror})", stacklevel=2)
        return
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _count_compilations(jax: Any) -> None:
    from jax import monitoring

    def on_event(event: str, **_: str | int) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            _counts["cache_hits"] += 1

    def on_duration(event: str, duration_secs: float, **_: str | int) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            _counts["compiled"] += 1
            _counts["compile_s"] += duration_secs

    monitoring.register_event_listener(on_event)
    monitoring.register_event_duration_secs_listener(on_duration)


def compilations() -> Mapping[str, float]:
    """``compiled``: programs XLA was asked for (cache hits included), ``cache_hits``: those
    read from the cache, ``compile_s``: the seconds both took."""
    return dict(_counts)


def gpu_names() -> list[str]:
    import jax

    return [str(d.device_kind) for d in jax.local_devices() if d.platform == "gpu"]


def device_memory() -> DeviceMemory | None:
    import jax

    from mmtune.keras_backend import DeviceMemory

    device = jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if not stats:
        return None
    limit = stats.get("bytes_limit")
    return DeviceMemory(
        stats.get("bytes_in_use", 0) / 2**20,
        stats.get("peak_bytes_in_use", 0) / 2**20,
        limit / 2**20 if limit else None,
    )


def is_out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ in ("XlaRuntimeError", "JaxRuntimeError") and (
        "RESOURCE_EXHAUSTED" in str(exc) or "Out of memory" in str(exc)
    )


def forward_pass(model: keras.Model) -> Forward:
    """``model(inputs, training=True)`` as one compiled program: its state (BatchNorm's moving
    statistics, the dropout seeds) goes in and comes out as values, and is written back to the
    model's variables after each call."""
    import jax

    @jax.jit
    def step(trainable: list, non_trainable: list, inputs: object) -> list:
        _, updated = model.stateless_call(trainable, non_trainable, inputs, training=True)
        return updated

    def forward(inputs: object) -> object:
        state = model.non_trainable_variables
        weights = [v.value for v in model.trainable_variables]
        updated = step(weights, [v.value for v in state], inputs)
        for variable, value in zip(state, updated):
            variable.assign(value)
        return None

    return forward


def enable_determinism() -> None:
    """XLA's deterministic GPU kernels; read when JAX starts its devices, so this must come
    first (a process whose devices started already keeps what it had)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if DETERMINISTIC_FLAG.split("=")[0] not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_FLAG}".strip()


def shared_device_environment(processes: int) -> Mapping[str, str]:
    """What each of ``processes`` sharing one GPU needs: no preallocation, and at most its
    share of 90% of the GPU (its memory ceiling then says so: :func:`device_memory`). Nothing
    when the user set JAX's memory settings, or when one process has the GPU."""
    if processes < 2 or any(os.environ.get(n) for n in (PREALLOCATE_ENV, *FRACTION_ENVS)):
        return {}
    share = f"{SHARED_FRACTION / processes:.3f}"
    return {PREALLOCATE_ENV: "false", _fraction_variable(): share}


def _fraction_variable() -> str:
    """The memory-fraction variable the installed jaxlib reads (its name changed: both are
    read by some releases, and setting both is an error there), found without importing it."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("jaxlib")
    if spec is not None and spec.origin:
        try:
            source = (Path(spec.origin).parent / "xla_client.py").read_text(errors="replace")
        except OSError:
            source = ""
        if f"'{FRACTION_ENVS[1]}'" in source or f'"{FRACTION_ENVS[1]}"' in source:
            return FRACTION_ENVS[1]
    return FRACTION_ENVS[0]


def on_device(arrays: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
    """On the default device, uncommitted: a committed batch would commit the training step's
    outputs, and the step (keyed by its arguments' placement) would compile again for the
    next epoch, and again once precise BatchNorm wrote its statistics back (3 compilations
    of the step in 3 epochs, seen here)."""
    import jax
    import numpy as np

    return {name: jax.device_put(np.asarray(a)) for name, a in arrays.items()}


def gather_on_device(tensors: Mapping[str, Any], rows: np.ndarray) -> Mapping[str, Any]:
    import jax.numpy as jnp

    index = jnp.asarray(rows)
    return {name: jnp.take(t, index, axis=0) for name, t in tensors.items()}
