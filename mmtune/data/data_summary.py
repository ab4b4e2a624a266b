"""A checked data set's statistics: its rows, classes, pictures, MFCC ranges and cache."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mmtune.data.cache import CachedData
    from mmtune.data.cache_file import CacheMeta

__all__ = ["data_summary"]


def data_summary(data: CachedData, meta: CacheMeta, target: Path, hit: bool) -> dict[str, Any]:
    """What ``mmtune data check`` prints (and ``CachedData.summary`` holds): rows and classes,
    picture sizes and modes as the cache build found them, MFCC ranges, the cache file."""
    from mmtune.data.contract import TEST_CSV, TRAIN_CSV

    counts = np.bincount(data.train_labels, minlength=data.spec.n_classes)
    mfcc = np.concatenate([data.train_mfcc, data.test_mfcc]).astype(np.float64)  # no overflow
    return {
        "data_dir": str(data.data_dir),
        "rows": {TRAIN_CSV: int(len(data.train_labels)), TEST_CSV: int(len(data.test_mfcc))},
        "classes": [
            {"index": i, "name": name, "rows": int(counts[i])}
            for i, name in enumerate(data.spec.class_names)
        ],
        "picture_sizes": dict(meta.sizes),
        "picture_modes": dict(meta.modes),
        "image_size": list(meta.image_size),
        "mfcc": {
            "columns": data.spec.n_mfcc,
            "names": f"{data.spec.mfcc_columns[0]} .. {data.spec.mfcc_columns[-1]}",
            "min": float(mfcc.min()),
            "max": float(mfcc.max()),
            "mean": float(mfcc.mean()),
            "std": float(mfcc.std()),
            "column_min_range": [float(mfcc.min(axis=0).min()), float(mfcc.min(axis=0).max())],
            "column_max_range": [float(mfcc.max(axis=0).min()), float(mfcc.max(axis=0).max())],
        },
        "resolution": data.resolution,
        "data_hash": data.data_hash,
        "cache": {
            "path": str(target),
            "hit": hit,
            "in_memory": isinstance(data.train_images, np.ndarray),
            "bytes": target.stat().st_size if target.is_file() else None,
            "build_seconds": meta.build_seconds,
        },
        "warnings": len(data.warnings),
    }
