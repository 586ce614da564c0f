"""A PostgreSQL ledger named by a URL (``postgresql://user@host:port/database``).

Never a password in the URL: a command line and a process's environment can be read by other
users of the machine, and URLs end up in logs. The password comes from libpq's own sources (its
password file ``~/.pgpass``, ``PGPASSFILE``, ``PGPASSWORD``), or from a private file the config
names (``ledger_password_file``). Messages show the URL masked (no query string, no password).

To a host that is not loopback or a Unix socket the connection must use TLS with the server's
certificate checked (``sslmode=verify-full``), unless the config sets ``ledger_tls = false``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from lac_batch.model.errors import UsageError

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_SCHEMES = ("postgresql", "postgres")
_LOOPBACK_NAMES = frozenset({"localhost", ""})


def is_ledger_url(text: str) -> bool:
    return bool(re.match(r"(?i)^(postgresql|postgres)://", text.strip()))


def mask_ledger_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class LedgerUrl:
    """A PostgreSQL ledger's URL; ``str()`` and ``repr()`` show it masked."""

    text: str = field(repr=False)
    password: str | None = field(default=None, repr=False, compare=False)
    tls_required: bool = True

    def __post_init__(self) -> None:
        parts = urlsplit(self.text)
        if parts.scheme.lower() not in _SCHEMES:
            raise ValueError("a ledger URL starting with postgresql://")
        if parts.password is not None:
            raise ValueError(
                "a ledger URL without a password (others can read command lines, the "
                "environment and logs: put it in libpq's password file ~/.pgpass, in "
                "PGPASSWORD, or in a private file named by ledger_password_file in the config)"
            )
        if not parts.path.strip("/"):
            raise ValueError(
                "a ledger URL that names its database: postgresql://user@host/database"
            )

    @property
    def masked(self) -> str:
        return mask_ledger_url(self.text)

    def __str__(self) -> str:
        return self.masked

    @property
    def host(self) -> str:
        """The host to connect to ("" for libpq's default Unix socket)."""
        parts = urlsplit(self.text)
        query = dict(parse_qsl(parts.query))
        return unquote(query.get("host", parts.hostname or ""))

    @property
    def is_local(self) -> bool:
        """Loopback or a Unix socket (a folder path): no TLS needed."""
        host = self.host
        if host.startswith("/") or host.lower() in _LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            return False

    def conninfo(self) -> str:
        """The URL as libpq takes it: sslmode=verify-full added for a remote host (unless the
        config opted out), and the password from the config's file, if any."""
        parts = urlsplit(self.text)
        query = dict(parse_qsl(parts.query))
        if self.tls_required and not self.is_local:
            query["sslmode"] = "verify-full"
        if self.password is not None:
            query["password"] = self.password
        return urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment)
        )

    def scrub(self, text: str) -> str:
        """``text`` without the full URL or the password, should a driver message repeat them."""
        for secret in (self.conninfo(), self.text, self.password):
            if secret:
                text = text.replace(secret, "***")
        return text

    def with_password_file(self, path: Path | None, *, tls: bool) -> LedgerUrl:
        """This URL with the config's choices: its password file's content, and TLS."""
        password = None
        if path is not None:
            password = read_password_file(path)
        return LedgerUrl(self.text, password, tls)


def ledger_location(ledger: Path | str | LedgerUrl | None) -> Path | LedgerUrl | None:
    """A ledger as a caller names it: a path, a ``postgresql://`` URL (text or parsed), None."""
    if ledger is None or isinstance(ledger, LedgerUrl | Path):
        return ledger
    return LedgerUrl(ledger) if is_ledger_url(ledger) else Path(ledger)


def read_password_file(path: Path) -> str:
    """The first line of a private password file; UsageError if others can read it (POSIX)."""
    if os.name == "posix":
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = 0  # reading it says what is wrong
        if mode & 0o077:
            raise UsageError(
                f"{path}: the ledger password file can be read by other users (mode "
                f"{mode:04o}); make it private with: chmod 600 {path}"
            )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: the ledger password file cannot be read ({error}).") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise UsageError(f"{path}: the ledger password file is empty.")
    return lines[0].strip()
