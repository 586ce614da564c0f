"""The LAC HTTP client: one request, and what its outcome proves.

Every outcome falls in one :class:`OutcomeKind`, decided by two tables in this module
(:data:`STATUS_KINDS` for answers, :data:`EXCEPTION_KINDS` for failures), so the retry policy can
read from the kind alone:

    ACCEPTED       202: the request became an event
    REJECTED       the server answered and refused this request (400, 404, 409, 413, 422, 3xx, …)
    AUTH_REFUSED   401/403: the key is invalid or lacks write scope; stop the whole run
    RATE_LIMITED   429: wait (Retry-After) and send again
    NOT_DELIVERED  surely not processed (503, 408, no connection made): safe to send again
    AMBIGUOUS      may have been processed (timeouts after sending, dropped connections, 500…)

The exception table is for httpx's default transport (httpcore), which is what we ship: there a
``ConnectError``/``ConnectTimeout`` can only come from opening the connection (TCP connect or TLS
handshake), before a byte of the request is written. That is NOT true of other transports (with
httpx-aiohttp a server closing after reading the request surfaces as ``ConnectTimeout``), which is
why :func:`build_http_client` fixes the transport. Tests prove each row against a real server.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path

import httpx
import truststore

from lac_batch import __version__
from lac_batch.credentials import ApiKey

__all__ = [
    "ENDPOINT_PATH",
    "ERROR_CODE_KINDS",
    "EXCEPTION_KINDS",
    "STATUS_KINDS",
    "USER_AGENT",
    "Attempt",
    "LacClient",
    "OutcomeKind",
    "build_http_client",
    "classify_exception",
    "classify_response",
    "parse_retry_after",
    "tls_context",
]

ENDPOINT_PATH = "/service-connections/requests"
USER_AGENT = f"lac-batch/{__version__}"
_ERROR_TEXT_LIMIT = 300


class OutcomeKind(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    AUTH_REFUSED = "auth_refused"
    RATE_LIMITED = "rate_limited"
    NOT_DELIVERED = "not_delivered"
    AMBIGUOUS = "ambiguous"


STATUS_KINDS: dict[int, OutcomeKind] = {
    202: OutcomeKind.ACCEPTED,
    401: OutcomeKind.AUTH_REFUSED,
    403: OutcomeKind.AUTH_REFUSED,
    429: OutcomeKind.RATE_LIMITED,
    408: OutcomeKind.NOT_DELIVERED,
    503: OutcomeKind.NOT_DELIVERED,
    500: OutcomeKind.AMBIGUOUS,
    502: OutcomeKind.AMBIGUOUS,
    504: OutcomeKind.AMBIGUOUS,
}
"""Answers by status code. Any status not listed is REJECTED, except other 2xx codes: the spec
promises only 202, and a 200/201/204 means the server did something we cannot confirm, so it is
AMBIGUOUS rather than a rejection that a rerun would send again."""

ERROR_CODE_KINDS: dict[tuple[int, str], OutcomeKind] = {
    (409, "idempotency_key_in_use"): OutcomeKind.NOT_DELIVERED,
}
"""Answers whose envelope ``error`` overrides :data:`STATUS_KINDS`. A 409 saying that a request
with the same Idempotency-Key is still being processed (as Stripe and the sandbox answer) refused
*this* request, and resending the same key later gets the first one's outcome; as a plain
rejection the row would be sent again under a new key on the next run, and could become a second
event (seen after a kill -9 whose last request was still in flight when the rerun began)."""

EXCEPTION_KINDS: tuple[tuple[type[Exception], OutcomeKind, str], ...] = (
    (httpx.ConnectTimeout, OutcomeKind.NOT_DELIVERED, "timed out opening the connection"),
    (httpx.ConnectError, OutcomeKind.NOT_DELIVERED, "could not connect"),
    (httpx.PoolTimeout, OutcomeKind.NOT_DELIVERED, "no free connection"),
    (httpx.ProxyError, OutcomeKind.NOT_DELIVERED, "the proxy refused the connection"),
    (httpx.ReadTimeout, OutcomeKind.AMBIGUOUS, "no answer within the timeout"),
    (httpx.WriteTimeout, OutcomeKind.AMBIGUOUS, "timed out while sending"),
    (httpx.WriteError, OutcomeKind.AMBIGUOUS, "the connection failed while sending"),
    (httpx.ReadError, OutcomeKind.AMBIGUOUS, "the connection failed while waiting for the answer"),
    (
        httpx.RemoteProtocolError,
        OutcomeKind.AMBIGUOUS,
        "the server closed the connection without a complete answer",
    ),
    (httpx.TransportError, OutcomeKind.AMBIGUOUS, "the connection failed"),
)
"""Failures by exception type, first match wins (order matters: subclasses first)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one HTTP attempt proved."""

    kind: OutcomeKind
    http_status: int | None = None
    event_id: str = ""
    error: str = ""
    retry_after: float | None = None
    """Seconds to wait, from a 429's or 503's Retry-After header."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _error_text(response: httpx.Response, key: ApiKey) -> str:
    """``error: detail`` from the envelope, else the start of the body."""
    try:
        envelope = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        envelope = None
    if isinstance(envelope, dict) and ("error" in envelope or "detail" in envelope):
        parts = [str(envelope[name]) for name in ("error", "detail") if envelope.get(name)]
        text = ": ".join(parts)
    else:
        text = response.text.strip().replace("\r", " ").replace("\n", " ")
    reason = response.reason_phrase or "HTTP"
    text = f"{response.status_code} {reason}" + (f": {text}" if text else "")
    return key.redact(text)[:_ERROR_TEXT_LIMIT]


def _envelope_error(response: httpx.Response) -> str:
    try:
        envelope = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    error = envelope.get("error") if isinstance(envelope, dict) else None
    return error if isinstance(error, str) else ""


def classify_response(response: httpx.Response, key: ApiKey) -> Attempt:
    status = response.status_code
    kind = STATUS_KINDS.get(status)
    if any(status == code for code, _ in ERROR_CODE_KINDS):
        kind = ERROR_CODE_KINDS.get((status, _envelope_error(response)), kind)
    if kind is None:
        kind = OutcomeKind.AMBIGUOUS if 200 <= status < 300 else OutcomeKind.REJECTED
    if kind is OutcomeKind.ACCEPTED:
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = None
        event_id = answer.get("event_id") if isinstance(answer, dict) else None
        if isinstance(event_id, str) and event_id:
            return Attempt(kind, status, event_id)
        return Attempt(kind, status, "", "202 Accepted, but the answer had no event_id")
    retry_after = None
    if kind in (OutcomeKind.RATE_LIMITED, OutcomeKind.NOT_DELIVERED):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    error = _error_text(response, key)
    if 200 <= status < 300:
        error += " (expected 202 Accepted; the request may have been processed)"
    return Attempt(kind, status, "", error, retry_after)


def classify_exception(error: Exception, key: ApiKey) -> Attempt:
    for exception_type, kind, description in EXCEPTION_KINDS:
        if isinstance(error, exception_type):
            detail = key.redact(str(error))[:_ERROR_TEXT_LIMIT]
            text = f"{description} ({type(error).__name__}{': ' + detail if detail else ''})"
            return Attempt(kind, None, "", text)
    raise error


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """The operating system's trust store (offices with TLS inspection work), or ``ca_bundle``."""
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=str(ca_bundle))
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def build_http_client(
    *, timeout: float, concurrency: int, ca_bundle: Path | None = None
) -> httpx.AsyncClient:
    """The one HTTP client configuration lac-batch sends with (default httpcore transport)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        # A POST must never be re-sent somewhere else behind our back.
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        # The transport is named, not left to a default, because EXCEPTION_KINDS is only true of
        # httpcore; retries=0 because every resend is decided by lac-batch's own policy.
        transport=httpx.AsyncHTTPTransport(
            verify=tls_context(ca_bundle),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            retries=0,
        ),
    )


class LacClient:
    """Sends request bodies to ``{base_url}/service-connections/requests``."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, key: ApiKey) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + ENDPOINT_PATH
        self._key = key

    @property
    def url(self) -> str:
        return self._url

    async def send(
        self, body_json: str, idempotency_key: str, key: ApiKey | None = None
    ) -> Attempt:
        """POST one canonical body with ``key`` (default: the client's); never raises for
        network trouble, returns what it proved."""
        key = key or self._key
        headers = {
            "Authorization": f"Bearer {key.reveal()}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        }
        try:
            response = await self._http.post(
                self._url, content=body_json.encode("utf-8"), headers=headers
            )
        except httpx.TransportError as error:
            return classify_exception(error, key)
        return classify_response(response, key)
