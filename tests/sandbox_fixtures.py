"""Helpers for the sandbox tests: requests made with httpx to a sandbox on 127.0.0.1.

Clients are made with ``trust_env=False`` so no proxy setting can route test traffic elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from lac_batch.sandbox import SANDBOX_READ_KEY, SANDBOX_WRITE_KEY, FaultConfig, Sandbox

ENDPOINT = "/service-connections/requests"
VALID_BODY: dict[str, Any] = {"connection_key": "bank:nordea", "request_type": "setup"}
INJECTED_ERRORS: dict[str, FaultConfig] = {
    "429": FaultConfig(p_429=1.0),
    "503": FaultConfig(p_503=1.0),
    "500": FaultConfig(p_500=1.0),
}
"""Faults that answer every request with an error status, by that status."""


def bearer(key: str = SANDBOX_WRITE_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


WRITE = bearer(SANDBOX_WRITE_KEY)
READ = bearer(SANDBOX_READ_KEY)


def client_for(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sandbox.base_url, trust_env=False)


def async_client_for(sandbox: Sandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sandbox.base_url, trust_env=False)


def post(
    client: httpx.Client,
    body: Any = VALID_BODY,
    headers: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> httpx.Response:
    """POST ``body`` as JSON with the write key unless ``headers`` say otherwise."""
    sent_headers = {"Content-Type": "application/json", **(WRITE if headers is None else headers)}
    if idempotency_key is not None:
        sent_headers["Idempotency-Key"] = idempotency_key
    return client.post(ENDPOINT, content=json.dumps(body).encode(), headers=sent_headers)
