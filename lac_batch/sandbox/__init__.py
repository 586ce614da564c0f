"""An embedded LAC sandbox: ``POST /portal/service-connections/requests`` on 127.0.0.1, with faults.

It answers as ``../shared/spec/openapi.yaml`` describes (202, 401, 403, 404, 422 with the error
envelope), honours ``Idempotency-Key`` as Stripe does, records every accepted event, and injects
latency, error statuses, dropped connections and a rate limit on request.
"""

from __future__ import annotations

from lac_batch.sandbox.events import SandboxEvent, read_event_log
from lac_batch.sandbox.faults import FaultConfig
from lac_batch.sandbox.keys import (
    DEFAULT_SANDBOX_KEYS,
    SANDBOX_COMPANY_ID,
    SANDBOX_READ_KEY,
    SANDBOX_WRITE_KEY,
    SandboxKey,
)
from lac_batch.sandbox.server import Sandbox, running_sandbox

__all__ = [
    "DEFAULT_SANDBOX_KEYS",
    "SANDBOX_COMPANY_ID",
    "SANDBOX_READ_KEY",
    "SANDBOX_WRITE_KEY",
    "FaultConfig",
    "Sandbox",
    "SandboxEvent",
    "SandboxKey",
    "read_event_log",
    "running_sandbox",
]
