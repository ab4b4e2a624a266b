"""Headless chromium for the tests: find it, screenshot a local page (a plain helper module).

    from browser import find_chromium, screenshot
    png = screenshot(find_chromium(), page, tmp_path / "shot.png")

Debian's ``chromium`` package; ``.ci/install-system`` installs it. The tests skip with the
reason when it is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """The chromium executable, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(
    chromium: str,
    page: Path,
    out: Path,
    width: int = 1280,
    height: int = 2000,
    timeout: float = 120.0,
) -> Path:
    """Render ``page`` (a local file) headless and write a PNG screenshot to ``out``."""
    profile = out.parent / f"{out.stem}-profile"
    cmd = [
        chromium,
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--screenshot={out}",
        f"--window-size={width},{height}",
        Path(page).resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not out.is_file():
        raise AssertionError(f"chromium failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return out
