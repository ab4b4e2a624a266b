"""What several verbs share: the data directory a command runs on."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["resolve_data_dir"]


def resolve_data_dir(data: str | None) -> Path:
    """``--data DIR`` when given, else the demo data set (made on first use)."""
    if data:
        path = Path(data)
        if not path.is_dir():
            from mmtune.errors import MmtuneError

            raise MmtuneError(f"--data {data}: no such directory")
        return path
    from mmtune.data.demo import ensure_demo

    path = ensure_demo()
    print(
        f"using the synthetic demo data set in {path} (give --data DIR for real data)",
        file=sys.stderr,
    )
    return path
