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
