"""The API key: where it comes from, how it is kept out of every output, and the base URL."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lac_batch.model.errors import UsageError
from lac_batch.model.wording import Option, option_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

API_KEY_ENV = "LAC_API_KEY"
BASE_URL_ENV = "LAC_BASE_URL"
PRODUCTION_BASE_URL = "https://api.app.lastaccountingcompany.com/portal"
SANDBOX_KEY_PREFIX = "lac_sk_sandbox_"
"""Keys of the sandbox (``lac-batch sandbox``) start so; they are public, and only ever go to a
sandbox on this machine."""
_PRODUCTION_PATH = "/portal"


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
        except UnicodeDecodeError:
            raise UsageError(
                f"{key_file}: the API key file is not UTF-8 text; it should hold only the key "
                "(lac_sk_…), saved as UTF-8."
            ) from None
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
            f"no API key: set the {env_name} environment variable or give "
            f"{option_name(Option.API_KEY_FILE)} PATH (a file holding only the key). Keys are "
            "minted in the LAC portal under Settings → API access; submitting needs a "
            f"write-scoped key. Use {option_name(Option.SANDBOX)} to try the tool without one."
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


def check_base_url(url: str, source: str = "") -> str:
    """The normalised URL, or a UsageError naming the problem (and ``source``, where it came
    from): https only, except plain http to this machine; a host, and a port if any in range."""
    where = f" (from {source})" if source and source != "default" else ""

    def refuse(problem: str) -> UsageError:
        return UsageError(
            f"the base URL '{url}'{where} {problem}; use e.g. {PRODUCTION_BASE_URL} (note the "
            f"{_PRODUCTION_PATH} path), or http://127.0.0.1:PORT{_PRODUCTION_PATH} for a local "
            "sandbox. Nothing was read or sent."
        )

    if not url.strip():
        raise refuse("is empty")
    try:
        normalised = normalise_base_url(url)
        parts = urlsplit(normalised)
    except ValueError as error:
        raise refuse(f"cannot be read ({error})") from None  # "Invalid IPv6 URL"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise refuse("has no usable port: after the ':' comes a number from 1 to 65535")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refuse("is not a base URL: it needs https:// and a host name")
    if any(character.isspace() for character in parts.netloc):
        raise refuse("has a space in its host name")
    if parts.query or parts.fragment:
        raise refuse("has a query string or fragment, which a base URL never has")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"'{url}'{where} uses plain http, which would send the API key unencrypted; use "
            "https (plain http is allowed only to this machine: localhost, 127.0.0.1, ::1)."
        )
    return normalised


def check_key_destination(base_url: str, keys: Iterable[tuple[str, ApiKey]]) -> None:
    """Refuse to aim a sandbox key (``lac_sk_sandbox_…``) at a server that is not this machine.

    ``keys`` are (whose, key) pairs, ``whose`` naming the key in the message ("" for the run's
    one key). A sandbox key is public: sent to a real server it would at best be refused, and at
    worst tell a stranger's server that this machine runs lac-batch with test data.
    """
    host = urlsplit(base_url).hostname or ""
    if is_loopback(host):
        return
    for whose, key in keys:
        if key.reveal().startswith(SANDBOX_KEY_PREFIX):
            of = f" of account {whose}" if whose else ""
            raise UsageError(
                f"the API key{of} is a sandbox key ({SANDBOX_KEY_PREFIX}…), and the base URL "
                f"{base_url} is not this machine: a sandbox key never leaves it. Use "
                f"{option_name(Option.SANDBOX)}, "
                "or point the base URL at a local sandbox (lac-batch sandbox serves "
                f"http://127.0.0.1:8765{_PRODUCTION_PATH}), or use a real key for {host}. "
                "Nothing was read or sent."
            )


def probable_base_url(url: str) -> str | None:
    """The base URL probably meant when ``url`` answers 404 to every request; None if no guess
    is better than the production one (the path already ends in /portal)."""
    parts = urlsplit(normalise_base_url(url))
    path = parts.path
    if _PRODUCTION_PATH in path:
        # A path copied with too much after /portal (…/portal/service-connections).
        path = path[: path.index(_PRODUCTION_PATH) + len(_PRODUCTION_PATH)]
        if path == parts.path:
            return None
    else:
        path = path + _PRODUCTION_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
