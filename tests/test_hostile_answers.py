"""Hostile answers from a real server on 127.0.0.1: each row still ends with exactly one status.

Every wait here is bounded (``BOUND_S``): a regression shows up as a failed test, not a hang.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import HEADER, WriteCsv, read_results_csv, run_cli
from hostile_server import (
    HostileServer,
    Request,
    accepted_body,
    answer,
    endless_body_202,
    gzip_bomb,
    gzip_bomb_202,
    gzip_garbage_202,
    hostile_server,
    trickle_body_202,
    trickle_status,
)

from lac_batch.model.status import RowResult, Status
from lac_batch.sending.api import (
    ANSWER_READ_LIMIT,
    Attempt,
    LacClient,
    OutcomeKind,
    build_http_client,
)
from lac_batch.sending.credentials import ApiKey
from lac_batch.sending.engine import Job, SubmitSettings, Submitter
from lac_batch.settings.config import Settings

BOUND_S = 30.0
KEY = ApiKey("lac_sk_hostile_test_key_0123456789")
BODY = '{"connection_key":"bank","request_type":"setup"}'


def send_once(server: HostileServer, timeout: float = 5.0) -> Attempt:
    async def go() -> Attempt:
        async with build_http_client(timeout=timeout, concurrency=1) as http:
            client = LacClient(http, server.base_url, KEY)
            return await asyncio.wait_for(client.send(BODY, "idem-hostile"), BOUND_S)

    return asyncio.run(go())


def submit_rows(
    base_url: str,
    settings: SubmitSettings,
    count: int = 1,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[int, RowResult]:
    """Send ``count`` rows with the shipped client (or one over ``transport``)."""
    jobs = [Job(row, f'{{"row":{row}}}', f"key-{row}") for row in range(2, count + 2)]

    async def go() -> dict[int, RowResult]:
        async with (
            build_http_client(timeout=settings.timeout, concurrency=4)
            if transport is None
            else httpx.AsyncClient(transport=transport, timeout=settings.timeout)
        ) as client:
            submitter = Submitter(LacClient(client, base_url, KEY), settings)
            return (await asyncio.wait_for(submitter.run(jobs), BOUND_S)).results

    return asyncio.run(go())


# --- 1. a 202 whose body cannot be read -----------------------------------------------------


def test_202_whose_gzip_body_is_garbage_is_accepted_with_a_note() -> None:
    with hostile_server(gzip_garbage_202) as server:
        attempt = send_once(server)
    assert attempt.kind is OutcomeKind.ACCEPTED
    assert attempt.http_status == 202
    assert "event_id could not be read" in attempt.error


def test_rows_answered_202_with_garbage_are_accepted_and_never_sent_again(
    write_csv: WriteCsv, tmp_path: Path
) -> None:
    path = write_csv([HEADER] + [[f"bank:b{n}", "setup", "", ""] for n in range(3)])
    with hostile_server(gzip_garbage_202) as server:
        env = {"LAC_API_KEY": KEY.reveal(), "LAC_BASE_URL": server.base_url}
        first = run_cli("submit", path, "--rate", "100", env=env)
        rows = read_results_csv(tmp_path / "requests.results.csv")
        second = run_cli("submit", path, "--rate", "100", env=env)
        received = server.received_total()
    assert first.exit_code == 0, first.output
    assert [row["status"] for row in rows] == ["accepted"] * 3
    assert all("event_id could not be read" in row["error"] for row in rows)
    assert second.exit_code == 0, second.output
    assert received == 3  # today: 6, the second run sends every row again


class ExplodingTransport(httpx.AsyncBaseTransport):
    """Raises an exception httpx never would, for every other request."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls % 2:
            raise KeyError("a surprise from deep inside the transport")
        return httpx.Response(202, json={"event_id": "evt_ok"})


def test_a_transport_raising_anything_leaves_rows_unknown_and_the_workers_alive() -> None:
    transport = ExplodingTransport()
    settings = Settings(rate=1000, concurrency=2).submit_settings()
    results = submit_rows("https://lac.test/portal", settings, count=6, transport=transport)
    statuses = sorted(result.status for result in results.values())
    assert statuses == [Status.ACCEPTED] * 3 + [Status.UNKNOWN] * 3
    unknown = [result for result in results.values() if result.status is Status.UNKNOWN]
    assert all("KeyError" in result.error for result in unknown)
    assert transport.calls == 6  # every row was tried: no worker died


class RaisingClient(LacClient):
    """A client whose send fails in a way no table foresees (a bug, say) after the request left."""

    async def send(
        self,
        body_json: str,
        idempotency_key: str,
        key: ApiKey | None = None,
        on_written: Callable[[], None] | None = None,
    ) -> Attempt:
        if idempotency_key in ("key-2", "key-4"):
            raise RuntimeError("bug after the request left")
        return Attempt(OutcomeKind.ACCEPTED, 202, "evt_" + idempotency_key)


def test_an_exception_escaping_the_client_makes_the_row_unknown_not_failed_or_not_sent() -> None:
    jobs = [Job(row, "{}", f"key-{row}") for row in range(2, 8)]

    async def go() -> dict[int, RowResult]:
        async with httpx.AsyncClient() as http:
            client = RaisingClient(http, "https://lac.test/portal", KEY)
            submitter = Submitter(client, Settings(rate=1000, concurrency=1).submit_settings())
            return (await asyncio.wait_for(submitter.run(jobs), BOUND_S)).results

    results = asyncio.run(go())
    assert {row: result.status for row, result in results.items()} == {
        2: Status.UNKNOWN,
        3: Status.ACCEPTED,
        4: Status.UNKNOWN,
        5: Status.ACCEPTED,
        6: Status.ACCEPTED,
        7: Status.ACCEPTED,
    }


# --- 2. --max-wait bounds time --------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"])
def test_a_useless_retry_after_backs_off_and_max_wait_ends_the_row(retry_after: str) -> None:
    wait = answer("429 Too Many Requests", headers={"Retry-After": retry_after})

    # After 40 requests the server accepts: today's client gets there in well under a second.
    async def mode(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.number > 40:
            await answer("202 Accepted", accepted_body(request))(request, writer)
        else:
            await wait(request, writer)

    with hostile_server(mode) as server:
        results = submit_rows(server.base_url, Settings(rate=1000, max_wait=2.5).submit_settings())
        received = server.received_total()
    assert results[2].status is Status.FAILED
    assert "kept asking to wait" in results[2].error
    # Never faster than once a second: within 2.5 s of waiting, at most 1 + 3 requests.
    assert 2 <= received <= 4


def test_a_huge_retry_after_on_503_is_cut_to_what_is_left_of_max_wait() -> None:
    busy = answer("503 Service Unavailable", headers={"Retry-After": "1000000000"})
    with hostile_server(busy) as server:
        results = submit_rows(server.base_url, Settings(rate=1000, max_wait=0.5).submit_settings())
        received = server.received_total()
    assert results[2].status is Status.FAILED
    assert "kept asking to wait for longer than max_wait (0.5 s)" in results[2].error
    assert received == 2


# --- 3. --timeout bounds the whole answer ---------------------------------------------------


def test_a_status_line_trickling_in_is_cut_off_at_the_timeout_and_unknown() -> None:
    # Each byte comes well within httpx's per-read timeout, so only a whole-answer bound ends it.
    with hostile_server(trickle_status(0.2)) as server:
        attempt = send_once(server, timeout=1.0)
        results = submit_rows(server.base_url, Settings(rate=1000, timeout=1.0).submit_settings())
    assert attempt.kind is OutcomeKind.AMBIGUOUS
    assert "within the timeout of 1 s" in attempt.error
    assert results[2].status is Status.UNKNOWN


def test_a_202_whose_body_trickles_in_is_accepted_at_the_timeout_with_a_note() -> None:
    with hostile_server(trickle_body_202(0.2)) as server:
        attempt = send_once(server, timeout=1.0)
    assert attempt.kind is OutcomeKind.ACCEPTED
    assert "event_id could not be read" in attempt.error
    assert "did not arrive within the timeout of 1 s" in attempt.error


# --- 4. answers are read up to a limit ------------------------------------------------------

HUGE = 256 << 20
"""Big enough that reading it whole shows, small enough not to hurt a shared test machine."""
MEMORY_BOUND = 4 << 20


def peak_memory_of(server: HostileServer) -> tuple[Attempt, int]:
    tracemalloc.start()
    try:
        attempt = send_once(server)
        return attempt, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("mode", ["endless body", "gzip bomb"])
def test_a_huge_202_answer_is_accepted_without_reading_it_whole(mode: str) -> None:
    behaviour = endless_body_202(HUGE) if mode == "endless body" else gzip_bomb_202(gzip_bomb(HUGE))
    with hostile_server(behaviour) as server:
        attempt, peak = peak_memory_of(server)
    assert attempt.kind is OutcomeKind.ACCEPTED
    assert f"larger than {ANSWER_READ_LIMIT // 1024} KiB" in attempt.error
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.1f} MiB allocated at the peak"


def test_an_error_answer_over_the_limit_still_decides_by_its_status() -> None:
    body = b'{"error":"validation_failed","detail":"' + b"x" * (2 * ANSWER_READ_LIMIT) + b'"}'
    with hostile_server(answer("422 Unprocessable Entity", body)) as server:
        attempt = send_once(server)
    assert attempt.kind is OutcomeKind.REJECTED
    assert attempt.http_status == 422
