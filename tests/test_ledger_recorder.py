"""The ledger recorder in a real submitter: what is on disk when a request leaves, and after.

The server here is an httpx MockTransport whose handler reads the ledger through a connection of
its own, so it sees only what was committed: exactly what a crash at that moment would leave.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path

import httpx

from lac_batch.ledger.recorder import LedgerRecorder
from lac_batch.ledger.store import Ledger, RequestState, SendingMark
from lac_batch.model.status import RowResult, Status
from lac_batch.sending.api import LacClient
from lac_batch.sending.credentials import ApiKey
from lac_batch.sending.engine import Job, SubmitRun, Submitter
from lac_batch.settings.config import Settings

FAST = replace(
    Settings(rate=10_000, concurrency=4, max_attempts=3).submit_settings(), backoff_base=0.001
)


def jobs(count: int) -> list[Job]:
    return [Job(row, f'{{"row":{row}}}', f"fp-{row}") for row in range(2, count + 2)]


def marks_of(job_list: Sequence[Job]) -> list[SendingMark]:
    return [
        SendingMark(job.idempotency_key, "https://x/portal", "acct", "keyhash", job.body_json, 1, 0,
                    "in.csv", job.row_number, 1)
        for job in job_list
    ]  # fmt: skip


def committed_state(path: Path, fingerprint: str) -> str | None:
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT state FROM requests WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
    return None if row is None else str(row[0])


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202, json={"event_id": "evt_" + request.headers["Idempotency-Key"]})


def run(
    path: Path,
    job_list: Sequence[Job],
    answer: Callable[[httpx.Request, int], httpx.Response],
    *,
    lookahead: int = 8,
    outcome_delay: float = 0.25,
    before_close: Callable[[], Awaitable[None]] | None = None,
) -> tuple[SubmitRun, list[tuple[str, str | None]]]:
    """Send ``job_list`` through a recorder; returns the run and, per request as it arrived at
    the server, its Idempotency-Key and its committed state in the ledger at that moment.
    ``before_close`` runs after the last answer, before the recorder is closed."""
    arrivals: list[tuple[str, str | None]] = []
    attempts: Counter[str] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        arrivals.append((key, committed_state(path, key)))
        attempts[key] += 1
        return answer(request, attempts[key])

    async def go() -> SubmitRun:
        ledger = Ledger.open(path)
        recorder = LedgerRecorder(
            ledger,
            marks_of(job_list),
            dict.fromkeys((job.idempotency_key for job in job_list), None),
            lookahead=lookahead,
            outcome_delay=outcome_delay,
        )
        try:
            async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
                client = LacClient(http, "https://lac.test/portal", ApiKey("lac_sk_x"))
                submitted = await Submitter(client, FAST, [recorder], gates=[recorder]).run(
                    job_list
                )
            if before_close is not None:
                await before_close()
            await recorder.aclose()
        finally:
            ledger.close()
        return submitted

    return asyncio.run(go()), arrivals


def test_every_attempt_leaves_only_once_committed_as_sending(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    job_list = jobs(150)

    def answer(request: httpx.Request, attempt: int) -> httpx.Response:
        # Every third request is retried once: its second attempt must still find `sending`.
        retried = int(request.headers["Idempotency-Key"].removeprefix("fp-")) % 3 == 0
        return httpx.Response(503) if retried and attempt == 1 else accepted(request)

    submitted, arrivals = run(path, job_list, answer)

    assert len(arrivals) == 150 + 50
    assert {state for _, state in arrivals} == {RequestState.SENDING.value}
    assert {result.status for result in submitted.results.values()} == {Status.ACCEPTED}
    ledger = Ledger.open(path)
    for job in job_list:
        record = ledger.record_state(job.idempotency_key)
        assert record is not None and record.state is RequestState.ACCEPTED
        assert record.event_id == f"evt_{job.idempotency_key}"
        assert record.attempts == (2 if job.row_number % 3 == 0 else 1)
    ledger.close()


def test_outcomes_are_written_before_the_end_when_no_marks_follow(tmp_path: Path) -> None:
    # Three requests, all marked by the first commit: no later marks carry their outcomes, so
    # they must be written on their own while the run is still open.
    path = tmp_path / "l.sqlite3"
    job_list = jobs(3)
    before_close: list[str | None] = []

    async def look() -> None:
        for _ in range(500):
            if committed_state(path, "fp-4") == RequestState.ACCEPTED.value:
                break
            await asyncio.sleep(0.01)
        before_close.extend(committed_state(path, job.idempotency_key) for job in job_list)

    run(
        path,
        job_list,
        lambda request, attempt: accepted(request),
        lookahead=16,
        outcome_delay=0.02,
        before_close=look,
    )
    assert before_close == [RequestState.ACCEPTED.value] * 3


def test_marks_of_requests_that_never_left_are_undone(tmp_path: Path) -> None:
    # The key is refused at once: the requests marked ahead but never sent are forgotten.
    path = tmp_path / "l.sqlite3"
    job_list = jobs(40)
    submitted, arrivals = run(path, job_list, lambda request, attempt: httpx.Response(401))

    sent = {key for key, _ in arrivals}
    assert sent and len(sent) < 40
    ledger = Ledger.open(path)
    for job in job_list:
        record = ledger.record_state(job.idempotency_key)
        if job.idempotency_key in sent:
            assert record is not None and record.state is RequestState.FAILED
        else:
            assert record is None
    ledger.close()
    assert all(
        result.status is Status.NOT_SENT
        for row, result in submitted.results.items()
        if f"fp-{row}" not in sent
    )


def test_a_batch_larger_than_one_statement_and_repeated_outcomes(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite3")
    job_list = jobs(150)
    ledger.write_batch(marks_of(job_list), [])
    outcomes = [
        (job.idempotency_key, RowResult(job.row_number, Status.ACCEPTED, f"evt_{job.row_number}",
                                        202, "", 1))
        for job in job_list
    ]  # fmt: skip
    # Two outcomes of one record in one batch: both attempts count, the later state wins.
    outcomes.insert(10, ("fp-30", RowResult(30, Status.FAILED, "", 503, "busy", 2)))
    ledger.write_batch([], outcomes)
    for job in job_list:
        record = ledger.record_state(job.idempotency_key)
        assert record is not None and record.state is RequestState.ACCEPTED
        assert record.event_id == f"evt_{job.row_number}"
        assert record.attempts == (3 if job.idempotency_key == "fp-30" else 1)
    ledger.close()
