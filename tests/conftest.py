"""Shared test set-up: quiet TensorFlow, a private cache directory per test session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test sees its own session-wide cache root, never the user's ~/.cache."""
    root = tmp_path_factory.getbasetemp() / "mmtune-cache"
    monkeypatch.setenv("MMTUNE_CACHE_DIR", str(root))
    return root


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
