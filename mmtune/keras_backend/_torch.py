"""Keras on PyTorch: CUDA memory as PyTorch reports it; the forward pass runs eagerly (Keras'
PyTorch backend traces nothing, and neither does mmtune)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mmtune.keras_backend._quiet import quiet_c_stderr

if TYPE_CHECKING:
    import keras
    import numpy as np

    from mmtune.keras_backend import DeviceMemory, Forward

MIXED_ON_GPU = "mixed_bfloat16"
RUN_EAGERLY_IN_COMPILE = False  # nothing is compiled on this backend unless asked


def start() -> None:
    with quiet_c_stderr():
        import keras  # noqa: F401
        import torch  # noqa: F401


def gpu_names() -> list[str]:
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(k) for k in range(torch.cuda.device_count())]


def device_memory() -> DeviceMemory | None:
    import torch

    from mmtune.keras_backend import DeviceMemory

    if not torch.cuda.is_available():
        return None
    total = torch.cuda.get_device_properties(0).total_memory
    return DeviceMemory(
        torch.cuda.memory_allocated(0) / 2**20,
        torch.cuda.max_memory_allocated(0) / 2**20,
        total / 2**20,
    )


def is_out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError"


def forward_pass(model: keras.Model) -> Forward:
    import torch

    def forward(inputs: object) -> object:
        with torch.no_grad():
            return model(inputs, training=True)

    return forward


def enable_determinism() -> None:
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)


def shared_device_environment(processes: int) -> Mapping[str, str]:
    return {}  # PyTorch's caching allocator takes what it uses


def on_device(arrays: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
    import keras
    import numpy as np

    return {name: keras.ops.convert_to_tensor(np.asarray(a)) for name, a in arrays.items()}


def gather_on_device(tensors: Mapping[str, Any], rows: np.ndarray) -> Mapping[str, Any]:
    import keras

    index = keras.ops.convert_to_tensor(rows)
    return {name: keras.ops.take(t, index, axis=0) for name, t in tensors.items()}


def compilations() -> Mapping[str, float]:
    return {}
