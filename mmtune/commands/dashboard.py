"""``mmtune dashboard``: serve optuna-dashboard on the ledger (the ``dashboard`` extra)."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from mmtune.errors import MmtuneError
from mmtune.ledger.store import Ledger, latest_note


def dashboard_url(host: str, port: int, study_id: int | None = None) -> str:
    """The address a browser opens: the study's page, or the list of studies."""
    shown = f"[{host}]" if ":" in host else host
    path = f"/dashboard/studies/{study_id}" if study_id is not None else "/dashboard"
    return f"http://{shown}:{port}{path}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` serves this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def exposure_warning(host: str) -> str | None:
    """The warning printed when the dashboard listens beyond this machine, else None."""
    if is_loopback(host):
        return None
    return (
        f"mmtune: warning: --host {host or '(all interfaces)'} serves the dashboard beyond "
        "this machine, and it has no authentication: anyone who can reach this port can "
        "read the studies and change them (delete a study, edit notes). Keep the default "
        "--host 127.0.0.1 and use an SSH tunnel (ssh -L 8080:127.0.0.1:8080 HOST) to "
        "see it from elsewhere."
    )


def dashboard(args: argparse.Namespace) -> int:
    try:
        import optuna_dashboard
    except ImportError as exc:
        raise MmtuneError(
            "optuna-dashboard is not installed: pip install 'mmtune[dashboard]' "
            "(or pip install 'optuna-dashboard>=0.21')"
        ) from exc
    ledger = Ledger(args.results, args.storage)
    study, name, was_latest = ledger.load_study(args.study)
    if was_latest:
        print(latest_note(name), file=sys.stderr)
    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    storage = ledger.storage()
    study_id = storage.get_study_id_from_name(name)
    print(
        f"optuna-dashboard on {ledger.display_url}\nstudy {name!r}: "
        f"{dashboard_url(args.host, args.port, study_id)}\nCtrl-C to stop",
        flush=True,
    )
    try:
        optuna_dashboard.run_server(storage, host=args.host, port=args.port)
    except OSError as exc:
        raise MmtuneError(
            f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}; "
            "choose another --port (or --host)"
        ) from exc
    except KeyboardInterrupt:
        print("dashboard stopped", file=sys.stderr)
    return 0
