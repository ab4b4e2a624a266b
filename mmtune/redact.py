"""Storage URLs as mmtune shows them: the password masked.

A ``--storage`` URL may carry a password (``postgresql+psycopg://user:secret@host/db``).
Every message, status line and worker command line shows :func:`redact_url` of it instead;
the URL itself only reaches the database driver.

>>> redact_url("postgresql+psycopg://user:secret@host/db")
'postgresql+psycopg://user:***@host/db'
>>> redact_url("sqlite:////tmp/results/ledger.sqlite3")
'sqlite:////tmp/results/ledger.sqlite3'
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["redact_url", "redact_text", "MASK"]

MASK = "***"
_PASSWORD_KEYS = ("password", "passwd", "pwd")
# scheme://user:PASSWORD@host... for strings SQLAlchemy cannot parse
_USERINFO = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^:/@\s]*:)(?P<password>\S*)@")
_QUERY_PASSWORD = re.compile(r"([?&](?:" + "|".join(_PASSWORD_KEYS) + r")=)[^&\s]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its password (and any ``password=`` query value) replaced by ``***``.

    Never raises: a string that is not a URL comes back with anything that looks like
    ``scheme://user:password@`` masked.
    """
    try:
        from sqlalchemy.engine import make_url

        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:
        shown = _mask_userinfo(str(url))
    return _QUERY_PASSWORD.sub(lambda m: f"{m[1]}{MASK}", shown)


def redact_text(text: str, url: str | None) -> str:
    """``text`` (an error message that may quote ``url``) with ``url``'s password masked."""
    if not url:
        return text
    text = text.replace(url, redact_url(url))
    for secret in _passwords(url):
        if len(secret) >= 4:  # a very short password would mask ordinary words too
            text = text.replace(secret, MASK)
    return _QUERY_PASSWORD.sub(lambda m: f"{m[1]}{MASK}", _mask_by_pattern(text))


def _mask_userinfo(url: str) -> str:
    """Everything between the user name and the last ``@`` masked (for unparseable URLs)."""
    before, at, after = url.rpartition("@")
    if not at:
        return url
    scheme, sep, userinfo = before.rpartition("://")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{sep}{user}:{MASK}@{after}" if colon else url


def _mask_by_pattern(text: str) -> str:
    return _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)


def _passwords(url: str) -> list[str]:
    """The password of ``url`` as written and decoded, and password query values."""
    found: list[str] = []
    match = _USERINFO.search(url)
    if match:
        found.append(match["password"])
    for key, value in re.findall(r"[?&]([^=&]+)=([^&]*)", url):
        if key.lower() in _PASSWORD_KEYS:
            found.append(value)
    return [s for secret in found for s in {secret, unquote(secret)} if s]
