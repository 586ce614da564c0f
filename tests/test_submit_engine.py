"""The retry policy and stopping rules of the submitter, offline with scripted answers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

import httpx

from lac_batch.model.status import RowResult, Status
from lac_batch.sending.api import LacClient
from lac_batch.sending.credentials import ApiKey
from lac_batch.sending.engine import Job, StopReason, SubmitRun, SubmitSettings, Submitter
from lac_batch.settings.config import Settings

FAST = replace(
    Settings(rate=1000, concurrency=2, max_attempts=3, max_wait=5).submit_settings(),
    backoff_base=0.001,
    hintless_wait_floor=0.001,
)
Script = Callable[[httpx.Request, int], httpx.Response | Exception]


def jobs(count: int) -> list[Job]:
    return [Job(row, f'{{"row":{row}}}', f"key-{row}") for row in range(2, count + 2)]


def run(
    script: Script, job_list: Sequence[Job], settings: SubmitSettings = FAST
) -> tuple[SubmitRun, dict[str, int]]:
    """Answer each request with ``script(request, attempt number of that key)``."""
    attempts: defaultdict[str, int] = defaultdict(int)

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        attempts[key] += 1
        outcome = script(request, attempts[key])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def go() -> SubmitRun:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = LacClient(http, "https://lac.test/portal", ApiKey("lac_sk_x"))
            return await Submitter(client, settings).run(job_list)

    return asyncio.run(go()), dict(attempts)


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202, json={"event_id": "evt_" + request.headers["Idempotency-Key"]})


def statuses(outcome: SubmitRun) -> dict[int, Status]:
    return {row: result.status for row, result in sorted(outcome.results.items())}


def test_all_accepted_once_each() -> None:
    outcome, attempts = run(lambda request, n: accepted(request), jobs(5))
    assert statuses(outcome) == dict.fromkeys(range(2, 7), Status.ACCEPTED)
    assert set(attempts.values()) == {1}
    assert outcome.results[2] == RowResult(2, Status.ACCEPTED, "evt_key-2", 202, "", 1)


def test_503_is_retried_with_the_same_key_until_accepted() -> None:
    outcome, attempts = run(
        lambda request, n: httpx.Response(503) if n < 3 else accepted(request), jobs(2)
    )
    assert statuses(outcome) == {2: Status.ACCEPTED, 3: Status.ACCEPTED}
    assert outcome.results[2].attempts == 3
    assert attempts == {"key-2": 3, "key-3": 3}


def test_not_delivered_gives_up_as_failed_after_max_attempts() -> None:
    outcome, attempts = run(lambda request, n: httpx.ConnectError("refused"), jobs(1))
    assert outcome.results[2].status is Status.FAILED
    assert outcome.results[2].attempts == 3
    assert "safe to send again" in outcome.results[2].error
    assert attempts == {"key-2": 3}


def test_ambiguous_is_unknown_and_never_resent_by_default() -> None:
    outcome, attempts = run(lambda request, n: httpx.ReadTimeout("late"), jobs(2))
    assert statuses(outcome) == {2: Status.UNKNOWN, 3: Status.UNKNOWN}
    assert attempts == {"key-2": 1, "key-3": 1}
    assert "may have been processed" in outcome.results[2].error


def test_500_is_ambiguous() -> None:
    outcome, _ = run(lambda request, n: httpx.Response(500), jobs(1))
    assert outcome.results[2].status is Status.UNKNOWN
    assert outcome.results[2].http_status == 500


def test_retry_ambiguous_resends_with_the_same_key() -> None:
    settings = SubmitSettings(**{**FAST.__dict__, "retry_ambiguous": True})
    outcome, attempts = run(
        lambda request, n: httpx.RemoteProtocolError("closed") if n == 1 else accepted(request),
        jobs(1),
        settings,
    )
    assert outcome.results[2].status is Status.ACCEPTED
    assert attempts == {"key-2": 2}


def test_ambiguous_then_not_delivered_stays_unknown_never_failed() -> None:
    settings = SubmitSettings(**{**FAST.__dict__, "retry_ambiguous": True})
    outcome, _ = run(
        lambda request, n: httpx.ReadTimeout("late") if n == 1 else httpx.Response(503),
        jobs(1),
        settings,
    )
    assert outcome.results[2].status is Status.UNKNOWN


def test_429_waits_do_not_count_as_attempts() -> None:
    outcome, attempts = run(
        lambda request, n: (
            httpx.Response(429, headers={"Retry-After": "0"}) if n <= 4 else accepted(request)
        ),
        jobs(1),
    )
    assert outcome.results[2].status is Status.ACCEPTED
    assert attempts == {"key-2": 5}  # more than max_attempts=3: 429s are not counted


def test_a_retry_after_longer_than_max_wait_is_cut_to_what_is_left_then_failed() -> None:
    settings = replace(FAST, max_wait=0.2)
    outcome, attempts = run(
        lambda request, n: httpx.Response(429, headers={"Retry-After": "60"}), jobs(1), settings
    )
    assert outcome.results[2].status is Status.FAILED
    assert "kept asking to wait for longer than max_wait (0.2 s)" in outcome.results[2].error
    assert attempts == {"key-2": 2}


def test_401_stops_the_run_and_leaves_the_rest_not_sent() -> None:
    settings = SubmitSettings(**{**FAST.__dict__, "concurrency": 1})
    outcome, attempts = run(
        lambda request, n: httpx.Response(401, json={"error": "unauthorized"}), jobs(4), settings
    )
    assert outcome.stop_reason is StopReason.AUTH_REFUSED
    assert "invalid, revoked or expired" in outcome.stop_message
    assert statuses(outcome) == dict.fromkeys(range(2, 6), Status.NOT_SENT)
    assert outcome.results[2].http_status == 401
    assert attempts == {"key-2": 1}


def test_403_says_write_scope() -> None:
    outcome, _ = run(lambda request, n: httpx.Response(403), jobs(1))
    assert "write scope" in outcome.stop_message


def not_found_except(accepted_key: str) -> Callable[[httpx.Request, int], httpx.Response]:
    """A server that accepts one Idempotency-Key and answers 404 to every other."""
    return lambda request, n: (
        accepted(request)
        if request.headers["Idempotency-Key"] == accepted_key
        else httpx.Response(404)
    )


def test_three_404s_at_the_start_mean_a_wrong_base_url() -> None:
    settings = SubmitSettings(**{**FAST.__dict__, "concurrency": 1})
    outcome, attempts = run(lambda request, n: httpx.Response(404), jobs(6), settings)
    assert outcome.stop_reason is StopReason.WRONG_BASE_URL
    assert "/portal" in outcome.stop_message
    assert [outcome.results[row].status for row in range(2, 8)] == [Status.FAILED] * 3 + [
        Status.NOT_SENT
    ] * 3
    assert len(attempts) == 3


def test_404s_before_the_first_other_answer_are_rejected_once_the_url_proves_right() -> None:
    settings = SubmitSettings(**{**FAST.__dict__, "concurrency": 1})
    outcome, _ = run(
        not_found_except("key-4"),
        jobs(4),
        settings,
    )
    assert outcome.stop_reason is None
    assert statuses(outcome) == {
        2: Status.REJECTED,
        3: Status.REJECTED,
        4: Status.ACCEPTED,
        5: Status.REJECTED,
    }


def test_fewer_404s_than_the_wrong_url_threshold_stay_rejected() -> None:
    outcome, _ = run(lambda request, n: httpx.Response(404), jobs(2))
    assert outcome.stop_reason is None
    assert statuses(outcome) == {2: Status.REJECTED, 3: Status.REJECTED}


def test_a_404_after_an_accepted_row_is_just_rejected() -> None:
    settings = SubmitSettings(**{**FAST.__dict__, "concurrency": 1})
    outcome, _ = run(
        not_found_except("key-2"),
        jobs(6),
        settings,
    )
    assert outcome.stop_reason is None
    assert list(statuses(outcome).values()).count(Status.REJECTED) == 5


def test_stop_request_leaves_unstarted_rows_not_sent() -> None:
    async def go() -> SubmitRun:
        def handler(request: httpx.Request) -> httpx.Response:
            return accepted(request)

        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            submitter = Submitter(
                LacClient(http, "https://lac.test/portal", ApiKey("k")),
                Settings(rate=20, concurrency=1).submit_settings(),
            )
            task = asyncio.create_task(submitter.run(jobs(50)))
            await asyncio.sleep(0.2)
            submitter.request_stop(StopReason.INTERRUPTED, "interrupted")
            return await task

    outcome = asyncio.run(go())
    counts = list(statuses(outcome).values())
    assert len(outcome.results) == 50
    assert 0 < counts.count(Status.ACCEPTED) < 50
    assert counts.count(Status.ACCEPTED) + counts.count(Status.NOT_SENT) == 50


def test_409_key_in_use_waits_for_the_first_request_with_that_key() -> None:
    outcome, attempts = run(
        lambda request, n: (
            httpx.Response(409, json={"error": "idempotency_key_in_use"})
            if n < 3
            else accepted(request)
        ),
        jobs(1),
    )
    assert outcome.results[2].status is Status.ACCEPTED
    assert attempts == {"key-2": 3}
