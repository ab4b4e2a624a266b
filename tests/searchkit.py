"""Tiny search spaces and data for the search, results and refit tests (a plain helper module).

from searchkit import tiny_space, tiny_data
"""

from __future__ import annotations

from pathlib import Path

from tinydata import write_dataset

#: The smallest direct_mix that trains on 16 px tiny data in seconds (tests of the trainer).
TINY_PARAMS = {
    "conv_blocks": 1,
    "base_filters": 4,
    "dense_units": 8,
    "audio_units_1": 8,
    "audio_units_2": 4,
    "resolution": 16,
    "batch_size": 8,
}

TINY_SPACE = """\
name: tiny
model: direct_mix
description: a tiny direct_mix for tests
max_epochs: 1
parameters:
  conv_blocks: {type: int, low: 1, high: 2, default: 1}
  base_filters: {type: choice, values: [4, 8], default: 4}
  dense_units: {type: int, low: 8, high: 16, default: 8}
  audio_units_1: {type: int, low: 8, high: 16, default: 8}
  audio_units_2: {type: int, low: 4, high: 8, default: 4}
  resolution: {type: choice, values: [16], default: 16}
  learning_rate: {type: float, low: 1.0e-3, high: 1.0e-2, log: true, default: 3.0e-3}
  batch_size: {type: choice, values: [8, 16], default: 8}
"""


def tiny_space(folder: Path, extra: str = "", name: str = "tiny") -> Path:
    """Write a tiny direct_mix space (one epoch a trial, 16px pictures) and return its path."""
    path = Path(folder) / f"{name}.yaml"
    path.write_text(TINY_SPACE.replace("name: tiny", f"name: {name}") + extra)
    return path


def tiny_data(folder: Path, seed: int = 0) -> Path:
    """36 labelled rows of 3 classes, 9 test rows, 32px pictures."""
    return write_dataset(Path(folder), n_train=36, n_test=9, seed=seed)


def search_argv(space: Path, data: Path, results: Path, *extra: str) -> list[str]:
    """``mmtune search``'s command line on ``space``, ``data`` and ``results``, then ``extra``."""
    return ["search", "--space", str(space), "--data", str(data), "--results", str(results), *extra]
