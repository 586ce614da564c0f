"""The sandbox as an ASGI application: ``POST /portal/service-connections/requests`` and 404s.

A request goes through two stages, in this order:

1. Gateway: the fault dice are drawn. Over the rate limit, or drawn for an injected 429, 503 or
   500, the request is answered at once; drawn to close before processing, its connection is
   dropped. Nothing is recorded or stored in either case, so a retry is processed normally.
2. Processing: the key is checked (401, 403), then the ``Idempotency-Key`` (409, 422, or the
   replay of a stored outcome), then the drawn latency is spent while the key is held as in
   flight, then the body is validated (422) or accepted (202, one event). A request drawn to
   close after processing goes through all of this, and its connection is then dropped instead
   of answered.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lac_batch.sandbox.connection import ConnectionDrop
from lac_batch.sandbox.envelope import ErrorCode, error_payload, error_response
from lac_batch.sandbox.events import EventLog, SandboxEvent
from lac_batch.sandbox.faults import Fault, FaultConfig, FaultInjector
from lac_batch.sandbox.idempotency import Claim, IdempotencyStore, Outcome, body_fingerprint
from lac_batch.sandbox.keys import KeyRing, SandboxKey
from lac_batch.sandbox.validation import InvalidBody, validated_body

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

BASE_PATH = "/portal"
"""Where the API lives under the server's root, as in production."""
ENDPOINT_PATH = BASE_PATH + "/service-connections/requests"
IDEMPOTENCY_KEY_MAX_LENGTH = 255

_GATEWAY_ANSWERS: Mapping[Fault, tuple[ErrorCode, str]] = {
    Fault.RATE_LIMITED: (ErrorCode.RATE_LIMITED, "over the sandbox's rate limit"),
    Fault.TOO_MANY_REQUESTS: (ErrorCode.RATE_LIMITED, "injected fault: too many requests"),
    Fault.SERVICE_UNAVAILABLE: (ErrorCode.SERVICE_UNAVAILABLE, "injected fault: unavailable"),
    Fault.INTERNAL_ERROR: (ErrorCode.INTERNAL_ERROR, "injected fault: internal error"),
}


class ReceivedLog:
    """How many POSTs reached the endpoint per ``Idempotency-Key`` (None: sent without one),
    whatever they were answered, and when each arrived. Events hide a double send when keys are
    honoured; this does not. Events are stamped after the drawn latency (with the timer's
    jitter); arrivals are what a gateway's rate limiter counts."""

    def __init__(self) -> None:
        self._counts: Counter[str | None] = Counter()
        self._arrivals: list[float] = []
        self._lock = threading.Lock()

    def record(self, idempotency_key: str | None, arrived: float) -> None:
        """One POST, read whole at ``arrived`` (time.monotonic())."""
        with self._lock:
            self._counts[idempotency_key] += 1
            self._arrivals.append(arrived)

    def counts(self) -> Counter[str | None]:
        with self._lock:
            return Counter(self._counts)

    def arrivals(self) -> list[float]:
        """time.monotonic() at which each POST had been read whole, oldest first (a copy)."""
        with self._lock:
            return sorted(self._arrivals)


@dataclass
class SandboxState:
    """Everything a running sandbox holds; shared by the app and the handle that controls it."""

    keys: KeyRing
    faults: FaultInjector
    events: EventLog
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    honour_idempotency_key: bool = True
    """False: every request is processed anew whatever its key, as the real API may do (the
    spec does not document the header), so a double send becomes two events."""
    received: ReceivedLog = field(default_factory=ReceivedLog)
    on_answer: Callable[[int | None], None] | None = None
    """Told the HTTP status of every answer to a POST (None: the connection was dropped), in
    the server's thread: what ``lac-batch sandbox`` prints a line for."""

    @classmethod
    def create(
        cls,
        faults: FaultConfig,
        keys: Iterable[SandboxKey],
        log_path: Path | None,
        honour_idempotency_key: bool = True,
    ) -> SandboxState:
        """A fresh state; opens the event log file, which ``events.close()`` closes."""
        return cls(
            KeyRing(keys),
            FaultInjector(faults),
            EventLog(log_path),
            honour_idempotency_key=honour_idempotency_key,
        )


def build_app(state: SandboxState) -> Starlette:
    requests = _ServiceConnectionRequests(state)
    app = Starlette(
        routes=[Route(ENDPOINT_PATH, requests.post, methods=["POST"])],
        exception_handlers={
            404: _not_found,
            405: _method_not_allowed,
            Exception: _internal_error,
        },
    )
    # A trailing slash is another path, and other paths are 404s, not redirects.
    app.router.redirect_slashes = False
    return app


class _ServiceConnectionRequests:
    def __init__(self, state: SandboxState) -> None:
        self._state = state

    async def post(self, request: Request) -> Response | ConnectionDrop:
        answer = await self._answer(request)
        if self._state.on_answer is not None:
            self._state.on_answer(answer.status_code if isinstance(answer, Response) else None)
        return answer

    async def _answer(self, request: Request) -> Response | ConnectionDrop:
        # Read whole first, as a gateway does before it counts a request. Reading the body
        # before dropping also makes the close an orderly end of stream, never a reset for
        # unread data, so the client's error does not depend on timing.
        raw_body = await request.body()
        self._state.received.record(request.headers.get("idempotency-key"), time.monotonic())
        decision = self._state.faults.draw()
        if decision.fault is not None and decision.fault in _GATEWAY_ANSWERS:
            code, detail = _GATEWAY_ANSWERS[decision.fault]
            retry_after = decision.retry_after_s
            headers = None if retry_after is None else {"Retry-After": str(retry_after)}
            return error_response(code, detail, headers)
        if decision.fault is Fault.CLOSE_BEFORE:
            return ConnectionDrop()
        response = await self._process(request.headers, raw_body, decision.delay_s)
        if decision.fault is Fault.CLOSE_AFTER:
            return ConnectionDrop()
        return response

    async def _process(self, headers: Headers, raw_body: bytes, delay_s: float) -> JSONResponse:
        authenticated = self._authenticate(headers.get("authorization"))
        if isinstance(authenticated, JSONResponse):
            return authenticated
        idempotency_key = headers.get("idempotency-key")
        if idempotency_key is None or not self._state.honour_idempotency_key:
            outcome = await self._accept_or_reject(
                raw_body, authenticated, idempotency_key, delay_s
            )
            return _respond(outcome, replayed=False)
        company_id = authenticated.company_id
        answered = self._claim(company_id, idempotency_key, raw_body)
        if answered is not None:
            return answered
        store = self._state.idempotency
        try:
            outcome = await self._accept_or_reject(
                raw_body, authenticated, idempotency_key, delay_s
            )
        except BaseException:
            # Cancelled at shutdown, or a bug: no outcome, so the key must not stay in flight.
            store.release(company_id, idempotency_key)
            raise
        store.complete(company_id, idempotency_key, outcome)
        return _respond(outcome, replayed=False)

    def _claim(self, company_id: str, idempotency_key: str, raw_body: bytes) -> JSONResponse | None:
        """The answer owed without processing, or None once the key is held for this request."""
        if not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX_LENGTH:
            return error_response(
                ErrorCode.VALIDATION_FAILED,
                f"Idempotency-Key: must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters",
            )
        claimed = self._state.idempotency.claim(
            company_id, idempotency_key, body_fingerprint(raw_body)
        )
        if claimed.claim is Claim.IN_FLIGHT:
            return error_response(
                ErrorCode.IDEMPOTENCY_KEY_IN_USE,
                "Idempotency-Key: a request with this key is still being processed",
            )
        if claimed.claim is Claim.REUSED:
            return error_response(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "Idempotency-Key: already used with a different request body",
            )
        if claimed.outcome is not None:
            return _respond(claimed.outcome, replayed=True)
        return None

    def _authenticate(self, authorization: str | None) -> SandboxKey | JSONResponse:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _unauthorized("send the header 'Authorization: Bearer <API key>'")
        sandbox_key = self._state.keys.find(token)
        if sandbox_key is None:
            return _unauthorized("unknown or revoked API key")
        if sandbox_key.scope != "write":
            return error_response(
                ErrorCode.FORBIDDEN,
                "this API key has read scope; filing a request needs a write-scoped key",
            )
        return sandbox_key

    async def _accept_or_reject(
        self,
        raw_body: bytes,
        sandbox_key: SandboxKey,
        idempotency_key: str | None,
        delay_s: float,
    ) -> Outcome:
        """Spend the drawn latency, then validate the body and record the event if it is valid."""
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        try:
            body = validated_body(raw_body, sandbox_key.company_id)
        except InvalidBody as invalid:
            code = ErrorCode.VALIDATION_FAILED
            return Outcome(code.status_code, error_payload(code, invalid.detail))
        event = SandboxEvent(
            time=datetime.now(UTC).isoformat(timespec="microseconds"),
            event_id="evt_" + secrets.token_hex(12),
            body=body,
            idempotency_key=idempotency_key,
            company_id=sandbox_key.company_id,
        )
        self._state.events.record(event)
        connection = {
            "connection_key": body["connection_key"],
            "request_type": body["request_type"],
        }
        accepted = {
            "event_id": event.event_id,
            "connection": connection,
            "connections": [connection],
        }
        return Outcome(HTTPStatus.ACCEPTED, accepted)


def _respond(outcome: Outcome, *, replayed: bool) -> JSONResponse:
    # Stripe marks replays so a client (or a person reading a trace) can tell them apart.
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(outcome.payload, outcome.status_code, headers=headers)


def _unauthorized(detail: str) -> JSONResponse:
    return error_response(ErrorCode.UNAUTHORIZED, detail, {"WWW-Authenticate": "Bearer"})


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(ErrorCode.NOT_FOUND, f"no such path: {request.url.path}")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    allowed = exc.headers if isinstance(exc, HTTPException) else None
    return error_response(
        ErrorCode.METHOD_NOT_ALLOWED,
        f"{request.method} is not served at {request.url.path}",
        allowed,
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(ErrorCode.INTERNAL_ERROR, "the sandbox failed; see its log")
