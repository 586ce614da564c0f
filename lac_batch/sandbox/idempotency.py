"""``Idempotency-Key`` as Stripe does it, per company.

- The first request with a key is processed; its outcome (202 or 422) is stored with a fingerprint
  of its body.
- The same key with the same body replays that outcome: same status, same ``event_id``, no new
  event.
- The same key with a different body is refused (422 ``idempotency_key_reused``).
- The same key while its first request is still being processed is refused with 409
  ``idempotency_key_in_use``, as Stripe does, rather than made to wait: the client retries later
  and then gets the replay.
- Injected faults that stop a request before processing never store anything, so a retry is
  processed normally.

Bodies are compared by canonical JSON (sorted keys, no spaces), so key order and whitespace do not
make two bodies different. The store lives in the server's event loop and is only touched there,
between awaits, so it needs no lock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@dataclass(frozen=True)
class Outcome:
    """What a processed request was answered: what an Idempotency-Key stores and replays."""

    status_code: int
    payload: dict[str, Any]


class Claim(Enum):
    """What a request with an ``Idempotency-Key`` should do."""

    NEW = "new"
    """The key is now held for this request: process it, then complete or release the key."""
    REPLAY = "replay"
    """Answer the stored outcome again."""
    IN_FLIGHT = "in_flight"
    """The first request with this key is still being processed."""
    REUSED = "reused"
    """The key was used with a different body."""


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    outcome: Outcome | None = None
    """Set for REPLAY."""


@dataclass
class _Entry:
    fingerprint: str
    outcome: Outcome | None
    """None while the first request is in flight."""


def body_fingerprint(raw_body: bytes) -> str:
    """Equal for bodies with the same JSON meaning; for bodies that are not JSON, the raw bytes."""
    try:
        parsed = json.loads(raw_body)
    except ValueError:
        return "bytes:" + hashlib.sha256(raw_body).hexdigest()
    canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "json:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class IdempotencyStore:
    """Outcomes by (company, Idempotency-Key), kept for the life of the sandbox."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}

    def claim(self, company_id: str, key: str, fingerprint: str) -> ClaimResult:
        entry = self._entries.get((company_id, key))
        if entry is None:
            self._entries[(company_id, key)] = _Entry(fingerprint, outcome=None)
            return ClaimResult(Claim.NEW)
        if entry.outcome is None:
            return ClaimResult(Claim.IN_FLIGHT)
        if entry.fingerprint != fingerprint:
            return ClaimResult(Claim.REUSED)
        return ClaimResult(Claim.REPLAY, entry.outcome)

    def complete(self, company_id: str, key: str, outcome: Outcome) -> None:
        """Store the outcome of the request that holds the key."""
        self._entries[(company_id, key)].outcome = outcome

    def release(self, company_id: str, key: str) -> None:
        """Forget a key whose request ended without an outcome, so a retry is processed anew."""
        entry = self._entries.get((company_id, key))
        if entry is not None and entry.outcome is None:
            del self._entries[(company_id, key)]
