"""A request's identity: the ``Idempotency-Key`` it is sent with, on every attempt and rerun."""

from __future__ import annotations

import hashlib
import json

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


def request_fingerprint(
    base_url: str, account: str, body_json: str, occurrence: int, generation: int = 0
) -> str:
    """A digest of where it goes, for whom, what it says and which copy it is.

    ``base_url`` is normalised (see :func:`~lac_batch.sending.credentials.normalise_base_url`);
    ``account`` names the key's company (a hash of the key unless named); ``body_json`` is the
    canonical body; ``occurrence`` tells ``--allow-duplicates`` copies apart; ``generation`` is
    raised by ``--force`` so that a server honouring the key does not just replay.
    """
    identity = json.dumps(
        [base_url, account, body_json, occurrence, generation],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "lacb-" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:40]
