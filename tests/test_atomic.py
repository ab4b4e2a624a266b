"""Atomic writes: the result's mode follows the umask, which is read, never set."""

from __future__ import annotations

import os
import stat

from mmtune.atomic import atomic_write_text


def test_the_umask_is_read_without_being_changed(tmp_path, monkeypatch):
    """Setting the umask to read it gave files other threads created meanwhile mode 0666."""
    previous = os.umask(0o027)
    try:

        def no_umask_changes(mask):
            raise AssertionError(f"os.umask({mask:#o}) called while writing")

        monkeypatch.setattr(os, "umask", no_umask_changes)
        target = tmp_path / "submission.csv"
        atomic_write_text(target, "id,CLASS\n")
        monkeypatch.undo()
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
        assert target.read_text() == "id,CLASS\n"
        assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]
    finally:
        os.umask(previous)
