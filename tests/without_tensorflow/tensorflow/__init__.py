"""Put this folder first on PYTHONPATH and ``import tensorflow`` fails, as on a machine
without it (the GPU machine this project uses has JAX and no TensorFlow): the JAX backend's
tests run mmtune so."""

raise ImportError(
    "TensorFlow is blocked here (tests/without_tensorflow): this process runs as on a machine without it"
)
