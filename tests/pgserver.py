"""A throwaway PostgreSQL server on loopback for the tests (a plain helper module).

`.ci/run` installs Debian's `postgresql` package; this module runs `initdb` and `pg_ctl` from it
in a temporary directory, as the `postgres` user when the tests run as root (PostgreSQL refuses
to run as root), on a free port of 127.0.0.1. `start()` returns None with a reason when it
truly cannot, and the tests skip saying why.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PgServer:
    url: str
    data_dir: Path
    bin_dir: Path
    user: str | None

    def stop(self) -> None:
        _run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"],
            self.user,
            check=False,
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run(cmd: list[str], user: str | None, check: bool = True) -> subprocess.CompletedProcess:
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    # pg_ctl keeps its output pipe open unless the server logs to a file (-l): never pipe it.
    return subprocess.run(
        cmd,
        check=check,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=60,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> tuple[PgServer | None, str]:
    """Start a server; ``(server, "")`` or ``(None, why not)``."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        return None, "PostgreSQL is not installed (no initdb; .ci/run installs it)"
    try:
        import psycopg
    except ImportError:
        return None, "psycopg is not installed (pip install 'mmtune[postgres]')"
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="mmtune-pg-"))
    data_dir = root / "data"
    if user:
        shutil.chown(root, user)
    os.chmod(root, 0o755)
    port = _free_port()
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            user,
        )
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(root / "server.log"),
                "-w",
                "-o",
                f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c max_connections=100",
                "start",
            ],
            user,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        return None, f"could not start PostgreSQL: {exc} {detail.decode(errors='replace')[:300]}"
    server = PgServer(
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", data_dir, bin_dir, user
    )
    deadline = time.monotonic() + 30
    import psycopg

    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres"):
                return server, ""
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                server.stop()
                return None, f"PostgreSQL did not answer on port {port}: {exc}"
            time.sleep(0.3)


def new_database(server: PgServer, name: str) -> str:
    """Create database ``name`` and return its URL."""
    import psycopg

    port = server.url.rsplit(":", 1)[1].split("/")[0]
    with psycopg.connect(
        f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + f"/{name}"
