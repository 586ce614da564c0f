"""The API key: where it comes from, how it is kept out of every output, and the base URL."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lac_batch.errors import UsageError

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "PRODUCTION_BASE_URL",
    "ApiKey",
    "check_base_url",
    "check_private_file",
    "is_loopback",
    "load_api_key",
    "normalise_base_url",
]

API_KEY_ENV = "LAC_API_KEY"
BASE_URL_ENV = "LAC_BASE_URL"
PRODUCTION_BASE_URL = "https://api.app.lastaccountingcompany.com/portal"


@dataclass(frozen=True)
class ApiKey:
    """A bearer token that never prints: ``repr`` and ``str`` hide it; only :meth:`reveal` shows."""

    _secret: str

    def reveal(self) -> str:
        return self._secret

    @property
    def account_hash(self) -> str:
        """A short, one-way name for the key, to tell keys apart without storing them."""
        return hashlib.sha256(self._secret.encode("utf-8")).hexdigest()[:16]

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the key replaced (a server might echo it back)."""
        return text.replace(self._secret, "[api key]") if self._secret else text

    def masked(self) -> str:
        """``lac_sk_…abcd``: enough to tell which key is in use, too little to use it."""
        prefix = "lac_sk_" if self._secret.startswith("lac_sk_") else ""
        return f"{prefix}…{self._secret[-4:]}" if len(self._secret) > 12 else "…"

    def __repr__(self) -> str:
        return "ApiKey(***)"

    __str__ = __repr__


def check_private_file(path: Path) -> None:
    """Refuse a secret file that others can read, as ssh does (POSIX only)."""
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # reading it will say what is wrong
    if mode & 0o077:
        raise UsageError(
            f"{path}: the key file can be read by other users (mode {mode:04o}); make it "
            f"private with: chmod 600 {path}"
        )


def load_api_key(
    key_file: Path | None,
    environ: Mapping[str, str] | None = None,
    env_name: str = API_KEY_ENV,
) -> ApiKey:
    """The key from a key file, else from ``env_name``; a clear error when there is none."""
    environ = os.environ if environ is None else environ
    if key_file is not None:
        check_private_file(key_file)
        try:
            text = key_file.read_text(encoding="utf-8-sig").strip()
        except OSError as error:
            raise UsageError(
                f"{key_file}: the API key file cannot be read ({error.strerror or error})."
            ) from None
        if not text:
            raise UsageError(f"{key_file}: the API key file is empty.")
        return ApiKey(text)
    text = environ.get(env_name, "").strip()
    if not text:
        raise UsageError(
            f"no API key: set the {env_name} environment variable or give --api-key-file "
            "PATH (a file holding only the key). Keys are minted in the LAC portal under "
            "Settings → API access; submitting needs a write-scoped key. Use --sandbox to try "
            "the tool without one."
        )
    return ApiKey(text)


def normalise_base_url(url: str) -> str:
    """Scheme and host lower-case, no trailing slash: the base URL's identity in fingerprints."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", ""))


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """The normalised URL, or a UsageError: https only, except plain http to this machine."""
    normalised = normalise_base_url(url)
    parts = urlsplit(normalised)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"'{url}' is not a base URL; use e.g. {PRODUCTION_BASE_URL} (note the /portal path)."
        )
    if parts.query or parts.fragment:
        raise UsageError(f"'{url}': a base URL has no query string or fragment.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"'{url}' uses plain http, which would send the API key unencrypted; use https "
            "(plain http is allowed only to this machine: localhost, 127.0.0.1, ::1)."
        )
    return normalised
