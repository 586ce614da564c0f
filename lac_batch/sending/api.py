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

import asyncio
import contextlib
import json
import math
import ssl
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import truststore

from lac_batch.model.version import __version__
from lac_batch.sending.credentials import ApiKey

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

ENDPOINT_PATH = "/service-connections/requests"
USER_AGENT = f"lac-batch/{__version__}"
_ERROR_TEXT_LIMIT = 300
_DEFAULT_TIMEOUT_S = 30.0
"""Whole-answer bound of a client built without a read timeout (only tests build one)."""
ANSWER_READ_LIMIT = 64 * 1024
"""Bytes of an answer's body read at most, counted on the wire and again after decoding: far
more than the JSON envelope needs, so what a server sends (1 GiB, a gzip bomb) never decides how
much memory a request costs. The status line decides the outcome whatever the body holds."""


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
    """Seconds from a Retry-After header (delay-seconds or an HTTP date), or None for "no hint".

    Zero, negative, past, infinite and unparsable values are no hint: a server answering
    ``Retry-After: 0`` for ever must not make a row loop as fast as the network allows.
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    return seconds if math.isfinite(seconds) and seconds > 0 else None


@dataclass(frozen=True, slots=True)
class Answer:
    """What was read of one answer: its status line and headers, and at most
    :data:`ANSWER_READ_LIMIT` bytes of its decoded body."""

    status_code: int
    reason_phrase: str = ""
    headers: httpx.Headers | None = None
    body: bytes = b""
    body_problem: str = ""
    """Why the body is missing or cut short ("" if it was read whole)."""

    def json(self) -> Any:
        """The body as JSON, or None if it is not (or was not read whole)."""
        if self.body_problem:
            return None
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        return None if self.headers is None else self.headers.get(name)


def _error_text(answer: Answer, key: ApiKey) -> str:
    """``error: detail`` from the envelope, else the start of the body."""
    envelope = answer.json()
    if isinstance(envelope, dict) and ("error" in envelope or "detail" in envelope):
        parts = [str(envelope[name]) for name in ("error", "detail") if envelope.get(name)]
        text = ": ".join(parts)
    else:
        text = answer.text[: _ERROR_TEXT_LIMIT * 2].strip().replace("\r", " ").replace("\n", " ")
    if answer.body_problem:
        text = f"{text} ({answer.body_problem})" if text else answer.body_problem
    reason = answer.reason_phrase or "HTTP"
    text = f"{answer.status_code} {reason}" + (f": {text}" if text else "")
    return key.redact(text)[:_ERROR_TEXT_LIMIT]


def _envelope_error(answer: Answer) -> str:
    envelope = answer.json()
    error = envelope.get("error") if isinstance(envelope, dict) else None
    return error if isinstance(error, str) else ""


def classify_response(response: httpx.Response | Answer, key: ApiKey) -> Attempt:
    """The outcome an answer proves; an httpx response must have been read already."""
    answer = (
        response
        if isinstance(response, Answer)
        else Answer(
            response.status_code, response.reason_phrase, response.headers, response.content
        )
    )
    status = answer.status_code
    kind = STATUS_KINDS.get(status)
    if any(status == code for code, _ in ERROR_CODE_KINDS):
        kind = ERROR_CODE_KINDS.get((status, _envelope_error(answer)), kind)
    if kind is None:
        kind = OutcomeKind.AMBIGUOUS if 200 <= status < 300 else OutcomeKind.REJECTED
    if kind is OutcomeKind.ACCEPTED:
        parsed = answer.json()
        event_id = parsed.get("event_id") if isinstance(parsed, dict) else None
        if isinstance(event_id, str) and event_id:
            return Attempt(kind, status, key.redact(event_id)[:_ERROR_TEXT_LIMIT])
        if answer.body_problem:
            note = f"202 Accepted, but its event_id could not be read: {answer.body_problem}"
            return Attempt(kind, status, "", key.redact(note)[:_ERROR_TEXT_LIMIT])
        return Attempt(kind, status, "", "202 Accepted, but the answer had no event_id")
    retry_after = None
    if kind in (OutcomeKind.RATE_LIMITED, OutcomeKind.NOT_DELIVERED):
        retry_after = parse_retry_after(answer.header("Retry-After"))
    error = _error_text(answer, key)
    if 200 <= status < 300:
        error += " (expected 202 Accepted; the request may have been processed)"
    return Attempt(kind, status, "", error, retry_after)


def classify_exception(error: BaseException, key: ApiKey) -> Attempt:
    """What a failure without an answer proves. An exception of a type not in
    :data:`EXCEPTION_KINDS` proves nothing: the request may have left, so it is AMBIGUOUS."""
    detail = key.redact(str(error))[:_ERROR_TEXT_LIMIT]
    named = f"{type(error).__name__}{': ' + detail if detail else ''}"
    for exception_type, kind, description in EXCEPTION_KINDS:
        if isinstance(error, exception_type):
            return Attempt(kind, None, "", f"{description} ({named})")
    return Attempt(OutcomeKind.AMBIGUOUS, None, "", f"unexpected failure while sending ({named})")


class _BoundedDecoder:
    """Undoes a Content-Encoding (gzip, deflate, or none) producing at most ``limit`` + 1 bytes,
    so a gzip bomb is never expanded further than that."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        self._limit = limit
        self._out = 0
        self._stages: list[Any] = []
        # Encodings are listed in the order they were applied: undo them from the last.
        for coding in reversed([c.strip().lower() for c in content_encoding.split(",")]):
            if coding in ("", "identity"):
                continue
            if coding in ("gzip", "x-gzip"):
                self._stages.append(zlib.decompressobj(16 + zlib.MAX_WBITS))
            elif coding == "deflate":
                self._stages.append(_DeflateStage())
            else:
                raise ValueError(f"its Content-Encoding {coding!r} is not supported")

    def decode(self, data: bytes) -> bytes:
        room = self._limit + 1 - self._out
        for stage in self._stages:
            # max_length stops expansion here; the rest of the input is never decompressed.
            data = stage.decompress(data, room) if room > 0 else b""
        self._out += len(data)
        return data


class _DeflateStage:
    """Undoes "deflate": zlib-wrapped by the standard, raw in practice; both, as httpx does."""

    def __init__(self) -> None:
        self._inner: Any = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._first:
            self._first = False
            try:
                return bytes(self._inner.decompress(data, max_length))
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return bytes(self._inner.decompress(data, max_length))


async def _read_body(response: httpx.Response, limit: int) -> tuple[bytes, str]:
    """At most ``limit`` bytes of the decoded body, and why it is incomplete ("" if whole).

    Reads the raw stream (``aiter_raw``, not httpx's own decoding, which expands each wire chunk
    whole) and stops as soon as more than ``limit`` bytes came on the wire or out of decoding.
    """
    if response.is_stream_consumed:
        # Only an answer made in memory (httpx.MockTransport) comes already read and decoded.
        content = response.content
        return content[:limit], "" if len(content) <= limit else _too_large(limit)
    try:
        decoder = _BoundedDecoder(response.headers.get("Content-Encoding", ""), limit)
    except ValueError as unsupported:
        return b"", f"{unsupported}"
    wire = 0
    body = bytearray()
    async for chunk in response.aiter_raw():
        wire += len(chunk)
        try:
            body += decoder.decode(chunk)
        except zlib.error as error:
            return b"", f"its body could not be decoded ({error})"
        if wire > limit or len(body) > limit:
            return bytes(body[:limit]), _too_large(limit)
    return bytes(body), ""


def _too_large(limit: int) -> str:
    return f"the answer was larger than {limit // 1024} KiB"


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
        timeout = http.timeout.read
        self._timeout = timeout if timeout is not None else _DEFAULT_TIMEOUT_S

    @property
    def url(self) -> str:
        return self._url

    async def send(
        self,
        body_json: str,
        idempotency_key: str,
        key: ApiKey | None = None,
        on_written: Callable[[], None] | None = None,
    ) -> Attempt:
        """POST one canonical body with ``key`` (default: the client's); never raises (except
        when cancelled): returns what it proved. ``on_written`` is called once the request
        (headers and body) was written whole, if the transport reports it (httpcore does).

        Opening the connection has httpx's connect timeout. From the moment the request starts
        being written, the whole answer (status line, headers and body) gets at most the
        client's timeout, measured by the clock: httpx's own timeout is per socket read, so a
        server trickling a byte a second would never time out.
        """
        key = key or self._key
        headers = {
            "Authorization": f"Bearer {key.reveal()}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            # Only what _BoundedDecoder can undo within its limit.
            "Accept-Encoding": "gzip, deflate",
        }
        timeout = self._timeout
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(None) as deadline:
                request = self._http.build_request(
                    "POST",
                    self._url,
                    content=body_json.encode("utf-8"),
                    headers=headers,
                    extensions={"trace": _request_trace(deadline, timeout, on_written)},
                )
                response = await self._http.send(request, stream=True)
                # A transport that does not trace (a test's MockTransport) starts the clock here.
                if deadline.when() is None:
                    deadline.reschedule(asyncio.get_running_loop().time() + timeout)
                try:
                    body, problem = await _read_body(response, ANSWER_READ_LIMIT)
                finally:
                    await _close_quietly(response)
        except TimeoutError:
            if response is None:
                return Attempt(
                    OutcomeKind.AMBIGUOUS,
                    None,
                    "",
                    f"no complete answer within the timeout of {timeout:g} s",
                )
            body, problem = b"", f"its body did not arrive within the timeout of {timeout:g} s"
        except Exception as error:
            if response is None:
                return classify_exception(error, key)
            body, problem = b"", f"its body could not be read ({type(error).__name__})"
        answer = Answer(
            response.status_code, response.reason_phrase, response.headers, body, problem
        )
        return classify_response(answer, key)


def _request_trace(
    deadline: asyncio.Timeout, timeout: float, on_written: Callable[[], None] | None
) -> Callable[[str, dict[str, Any]], Any]:
    """An httpcore ``trace`` hook that starts the whole-answer clock when the request headers
    start being written, so connecting keeps its own bound (and its meaning: nothing sent), and
    tells ``on_written`` when the body was written whole (what the pacing counts)."""

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_headers.started") and deadline.when() is None:
            deadline.reschedule(asyncio.get_running_loop().time() + timeout)
        elif event.endswith("send_request_body.complete") and on_written is not None:
            on_written()

    return trace


async def _close_quietly(response: httpx.Response) -> None:
    """Closing a half-read answer drops its connection; a failure to do so changes nothing."""
    with contextlib.suppress(Exception):
        await response.aclose()
