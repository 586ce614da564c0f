"""The outcome tables of the LAC client, offline with httpx.MockTransport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from lac_batch.sending.api import USER_AGENT, Attempt, LacClient, OutcomeKind, parse_retry_after
from lac_batch.sending.credentials import ApiKey

KEY = ApiKey("lac_sk_unit_test_secret_123456")


def send_with(
    handler: Callable[[httpx.Request], httpx.Response],
) -> tuple[Attempt, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    async def go() -> Attempt:
        async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
            return await LacClient(http, "https://lac.test/portal", KEY).send('{"a":1}', "idem-1")

    return asyncio.run(go()), seen


def answer(status: int, json: object = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return lambda request: httpx.Response(status, json=json, headers=headers)


def test_request_carries_auth_idempotency_key_and_exact_body() -> None:
    attempt, seen = send_with(answer(202, {"event_id": "evt_1"}))
    assert attempt == Attempt(OutcomeKind.ACCEPTED, 202, "evt_1")
    request = seen[0]
    assert str(request.url) == "https://lac.test/portal/service-connections/requests"
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {KEY.reveal()}"
    assert request.headers["Idempotency-Key"] == "idem-1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == b'{"a":1}'


def test_user_agent_is_set_by_the_shipped_client() -> None:
    from lac_batch.sending.api import build_http_client

    client = build_http_client(timeout=5, concurrency=1)
    assert client.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("lac-batch/")
    assert client.follow_redirects is False
    asyncio.run(client.aclose())


def test_202_without_event_id_is_accepted_with_a_note() -> None:
    attempt, _ = send_with(answer(202, {}))
    assert attempt.kind is OutcomeKind.ACCEPTED
    assert "no event_id" in attempt.error


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422, 301, 302, 418, 501])
def test_other_statuses_are_rejected_with_the_envelope(status: int) -> None:
    attempt, seen = send_with(
        answer(
            status,
            {"error": "validation_failed", "detail": "customer_id is wrong"},
            {"Location": "https://elsewhere.test/"},
        )
    )
    assert attempt.kind is OutcomeKind.REJECTED
    assert attempt.http_status == status
    assert attempt.error.endswith("validation_failed: customer_id is wrong")
    assert len(seen) == 1  # a redirect is never followed


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, OutcomeKind.AUTH_REFUSED),
        (403, OutcomeKind.AUTH_REFUSED),
        (429, OutcomeKind.RATE_LIMITED),
        (408, OutcomeKind.NOT_DELIVERED),
        (503, OutcomeKind.NOT_DELIVERED),
        (500, OutcomeKind.AMBIGUOUS),
        (502, OutcomeKind.AMBIGUOUS),
        (504, OutcomeKind.AMBIGUOUS),
        (200, OutcomeKind.AMBIGUOUS),
    ],
)
def test_status_table(status: int, kind: OutcomeKind) -> None:
    attempt, _ = send_with(answer(status, {"error": "e", "detail": "d"}))
    assert attempt.kind is kind


def test_retry_after_seconds_and_http_date() -> None:
    attempt, _ = send_with(answer(429, None, {"Retry-After": "7"}))
    assert attempt.retry_after == 7.0
    now = datetime(2026, 11, 26, 3, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 26 Nov 2026 03:00:30 GMT", now) == 30.0
    assert parse_retry_after("not a date") is None
    assert parse_retry_after(None) is None


def test_body_that_is_not_an_envelope_is_quoted() -> None:
    attempt, _ = send_with(lambda request: httpx.Response(400, text="<html>Bad gateway\nx</html>"))
    assert attempt.error == "400 Bad Request: <html>Bad gateway x</html>"


def test_an_echoed_key_is_redacted() -> None:
    attempt, _ = send_with(answer(422, {"error": "bad", "detail": f"key {KEY.reveal()} is odd"}))
    assert KEY.reveal() not in attempt.error
    assert "[api key]" in attempt.error


def raising(error: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return handler


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ConnectError("refused"), OutcomeKind.NOT_DELIVERED),
        (httpx.ConnectTimeout("slow"), OutcomeKind.NOT_DELIVERED),
        (httpx.PoolTimeout("busy"), OutcomeKind.NOT_DELIVERED),
        (httpx.ProxyError("proxy"), OutcomeKind.NOT_DELIVERED),
        (httpx.ReadTimeout("late"), OutcomeKind.AMBIGUOUS),
        (httpx.WriteTimeout("late"), OutcomeKind.AMBIGUOUS),
        (httpx.WriteError("pipe"), OutcomeKind.AMBIGUOUS),
        (httpx.ReadError("reset"), OutcomeKind.AMBIGUOUS),
        (httpx.RemoteProtocolError("closed"), OutcomeKind.AMBIGUOUS),
    ],
)
def test_exception_table(error: Exception, kind: OutcomeKind) -> None:
    attempt, _ = send_with(raising(error))
    assert attempt.kind is kind
    assert attempt.http_status is None
    assert type(error).__name__ in attempt.error


def test_key_never_shows_in_repr() -> None:
    assert KEY.reveal() not in repr(KEY) and KEY.reveal() not in str(KEY)
    assert KEY.reveal() not in f"{KEY}"


def test_409_for_an_idempotency_key_in_flight_is_resent_later_not_rejected() -> None:
    attempt, _ = send_with(answer(409, {"error": "idempotency_key_in_use", "detail": "busy"}))
    assert attempt.kind is OutcomeKind.NOT_DELIVERED
    other, _ = send_with(answer(409, {"error": "conflict", "detail": "something else"}))
    assert other.kind is OutcomeKind.REJECTED
