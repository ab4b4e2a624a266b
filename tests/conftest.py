"""Shared test set-up: quiet TensorFlow, a private cache directory per test session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Tiny models on tiny data: tracing a training step costs seconds, the training itself
# milliseconds. The suite runs TensorFlow's functions eagerly (in this process and in the
# processes the tests start); tests that need the traced path, as users run it, take the
# `traced` fixture.
os.environ.setdefault("MMTUNE_EAGER", "1")

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test sees its own session-wide cache root, never the user's ~/.cache."""
    root = tmp_path_factory.getbasetemp() / "mmtune-cache"
    monkeypatch.setenv("MMTUNE_CACHE_DIR", str(root))
    return root


@pytest.fixture
def traced(monkeypatch):
    """This test trains as users' runs do: TensorFlow functions traced into graphs, here and
    in any process it starts."""
    from mmtune import keras_backend

    monkeypatch.setenv(keras_backend.EAGER_ENV, "0")
    keras_backend.start()
    import tensorflow as tf

    tf.config.run_functions_eagerly(False)
    yield
    tf.config.run_functions_eagerly(True)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on loopback for the session (skips, saying why, if none)."""
    import pgserver

    server, why = pgserver.start()
    if server is None:
        pytest.skip(why)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh database on the session's server, one per test."""
    import re

    import pgserver

    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:50]
    return pgserver.new_database(postgres_server, name)
