"""The API keys a sandbox accepts, each pinned to one company with a read or write scope."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

KeyScope = Literal["read", "write"]

SANDBOX_WRITE_KEY = "lac_sk_sandbox_write"
"""Public key of the sandbox, write scope: it may file service-connection requests."""
SANDBOX_READ_KEY = "lac_sk_sandbox_read"
"""Public key of the sandbox, read scope: every POST with it is refused with 403."""
SANDBOX_COMPANY_ID = "sandbox-company"
"""The company both default keys are pinned to."""


@dataclass(frozen=True)
class SandboxKey:
    """One API key the sandbox accepts, as the real API pins keys: one scope, one company."""

    key: str
    scope: KeyScope
    company_id: str


DEFAULT_SANDBOX_KEYS: tuple[SandboxKey, ...] = (
    SandboxKey(SANDBOX_WRITE_KEY, "write", SANDBOX_COMPANY_ID),
    SandboxKey(SANDBOX_READ_KEY, "read", SANDBOX_COMPANY_ID),
)


class KeyRing:
    """The keys in force; safe to revoke from another thread while the server runs."""

    def __init__(self, keys: Iterable[SandboxKey]) -> None:
        self._keys = {sandbox_key.key: sandbox_key for sandbox_key in keys}
        self._lock = threading.Lock()

    def find(self, key: str) -> SandboxKey | None:
        """The key's settings, or None if it is unknown or revoked."""
        with self._lock:
            return self._keys.get(key)

    def revoke(self, key: str) -> None:
        """Refuse the key from now on (401). Revoking an unknown or revoked key does nothing."""
        with self._lock:
            self._keys.pop(key, None)
