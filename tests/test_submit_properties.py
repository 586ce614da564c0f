"""Whatever the faults: every row has exactly one final status, and the sandbox agrees."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from conftest import HEADER, SAMPLES, WriteCsv, read_results_csv, run_cli, sandbox_env
from hostile_server import (
    Mode,
    Request,
    accepted_body,
    answer,
    endless_body_202,
    gzip_garbage_202,
    hostile_server,
    trickle_body_202,
    trickle_status,
)

from lac_batch.files.reader import read_table
from lac_batch.rows.payload import canonical_json
from lac_batch.sandbox import FaultConfig, Sandbox, running_sandbox

FINAL = {"accepted", "rejected", "failed", "unknown", "not_sent", "invalid"}


def random_faults(rng: random.Random) -> FaultConfig:
    weights = [rng.random() for _ in range(5)]
    scale = rng.uniform(0.1, 0.6) / sum(weights)
    p_429, p_503, p_500, p_before, p_after = (weight * scale for weight in weights)
    return FaultConfig(
        p_429=p_429,
        retry_after_s=0,
        p_503=p_503,
        p_500=p_500,
        p_close_before=p_before,
        p_close_after=p_after,
        latency_jitter_s=rng.choice([0.0, 0.01]),
        seed=rng.randrange(10**6),
    )


@pytest.mark.parametrize("seed", range(8))
def test_random_fault_mix_accounts_for_every_row(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    faults = random_faults(rng)
    path = Path(shutil.copy(SAMPLES / "requests-with-errors.csv", tmp_path / "mixed.csv"))
    extra = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    # Both files together: some invalid rows, many valid ones.
    path.write_bytes(path.read_bytes() + b"".join(extra.read_bytes().splitlines(True)[1:25]))
    retry_ambiguous = ["--retry-ambiguous"] if rng.random() < 0.5 else []
    # Resending an ambiguous request is safe only where the key is honoured; otherwise the
    # server ignores it, as the real API may, and any double send shows as two events.
    with running_sandbox(faults, honour_idempotency_key=bool(retry_ambiguous)) as sandbox:
        check_fault_mix(path, sandbox, rng, retry_ambiguous)


def check_fault_mix(
    path: Path, sandbox: Sandbox, rng: random.Random, retry_ambiguous: list[str]
) -> None:
    outcome = run_cli(
        "submit",
        path,
        "--rate",
        "500",
        "--concurrency",
        str(rng.choice([1, 4, 8])),
        "--max-attempts",
        "3",
        *retry_ambiguous,
        env=sandbox_env(sandbox),
    )
    assert outcome.exit_code in (0, 1), outcome.output

    input_rows = read_table(path).row_numbers
    results = read_results_csv(path.with_name("mixed.results.csv"))
    assert [int(row["row"]) for row in results] == input_rows
    assert all(row["status"] in FINAL for row in results)

    events = sandbox.events()
    keys = [event.idempotency_key for event in events]
    assert len(keys) == len(set(keys)), "a request became two events"
    event_by_body = {canonical_json(event.body): event for event in events}
    assert len(event_by_body) == len(events)

    table = read_table(path)
    for row, cells in zip(results, table.rows, strict=True):
        status = row["status"]
        if status == "accepted":
            event = event_by_body.pop(body_of(cells, table.headers))
            assert row["event_id"] == event.event_id
        elif status in ("failed", "not_sent", "rejected"):
            assert body_of(cells, table.headers) not in event_by_body, row
    # What is left was processed without an answer: each must be an `unknown` row.
    unknown_bodies = {
        body_of(cells, table.headers)
        for row, cells in zip(results, table.rows, strict=True)
        if row["status"] == "unknown"
    }
    assert set(event_by_body) <= unknown_bodies


def body_of(cells: list[str], headers: list[str]) -> str:
    """The canonical body the tool builds for one sample row (via validate, not by hand)."""
    from lac_batch.files.table import FileFormat, RawTable
    from lac_batch.model.columns import plan_columns
    from lac_batch.rows.validation import RequestSheet, validate

    table = RawTable(Path("x.csv"), FileFormat.CSV, headers, [cells], [2])
    verdict = validate(RequestSheet(table, plan_columns(headers, table.path))).rows[0]
    return verdict.body_json or json.dumps(None)


# --- arbitrary answers and exceptions at any point of a send, then a rerun ------------------


@dataclass
class Fates:
    """What a seeded hostile server did, per Idempotency-Key: received, and processed."""

    rng: random.Random
    processed: set[str] = field(default_factory=set)
    """Keys of requests the server acted on (or may have: a 500, a drop after reading)."""
    hostile: bool = True


def hostile_mode(fates: Fates) -> Mode:
    async def mode(request: Request, writer: asyncio.StreamWriter) -> None:
        if not fates.hostile:
            fates.processed.add(request.idempotency_key)
            await answer("202 Accepted", accepted_body(request))(request, writer)
            return
        fate = fates.rng.choice(SERVER_FATES)
        processed, behaviour = fate(request, fates.rng)
        if processed:
            fates.processed.add(request.idempotency_key)
        if behaviour is not None:
            await behaviour(request, writer)
        # None: the connection is dropped unanswered, after the request was read.

    return mode


RETRY_AFTERS = ["0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "1", "soon", "1e9"]


def _accepted(request: Request, rng: random.Random) -> tuple[bool, Mode | None]:
    return True, answer("202 Accepted", accepted_body(request))


SERVER_FATES: list[Callable[[Request, random.Random], tuple[bool, Mode | None]]] = [
    _accepted,
    _accepted,
    lambda request, rng: (True, gzip_garbage_202),
    lambda request, rng: (True, endless_body_202(1 << 20)),
    lambda request, rng: (True, trickle_body_202(0.1)),
    lambda request, rng: (True, trickle_status(0.1)),
    lambda request, rng: (True, None),
    lambda request, rng: (False, None),
    lambda request, rng: (True, answer("500 Internal Server Error")),
    lambda request, rng: (False, answer("503 Service Unavailable")),
    lambda request, rng: (
        False,
        answer("422 Unprocessable Entity", b'{"error":"validation_failed"}'),
    ),
    lambda request, rng: (
        False,
        answer("429 Too Many Requests", headers={"Retry-After": rng.choice(RETRY_AFTERS)}),
    ),
]
"""Each: (whether the server acted on the request, what it answers; None drops the connection)."""

CLIENT_EXCEPTIONS: list[Callable[[], BaseException]] = [
    lambda: KeyError("surprise"),
    lambda: RuntimeError("bug"),
    lambda: OSError("disk on fire"),
    lambda: ValueError("odd"),
    lambda: httpx.ReadError("reset"),
    lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad byte"),
]


class _ExplodingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, error: BaseException) -> None:
        self._inner = inner
        self._error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk
            raise self._error

    async def aclose(self) -> None:
        await self._inner.aclose()


def injecting_transport(
    rng: random.Random, real: Callable[..., Awaitable[httpx.Response]]
) -> Callable[..., Awaitable[httpx.Response]]:
    """httpx's own transport, with an arbitrary exception now and then: before the request
    leaves, after the answer's head came, or in the middle of its body."""

    async def handle(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        where = rng.choice(["none", "none", "none", "before", "after head", "in body"])
        error = rng.choice(CLIENT_EXCEPTIONS)()
        if where == "before":
            raise error
        response = await real(self, request)
        if where == "after head":
            await response.aclose()
            raise error
        if where == "in body":
            assert isinstance(response.stream, httpx.AsyncByteStream)
            response.stream = _ExplodingStream(response.stream, error)
        return response

    return handle


@pytest.mark.parametrize("seed", range(6))
def test_arbitrary_answers_and_exceptions_then_a_rerun_never_send_an_accepted_row_again(
    write_csv: WriteCsv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    path = write_csv([HEADER] + [[f"bank:p{n}", "setup", "", ""] for n in range(10)])
    fates = Fates(random.Random(seed))
    real = httpx.AsyncHTTPTransport.handle_async_request
    with hostile_server(hostile_mode(fates)) as server:
        env = {"LAC_API_KEY": "lac_sk_property_test_0123456789", "LAC_BASE_URL": server.base_url}
        common = ["--rate", "1000", "--timeout", "0.5", "--max-wait", "1", "--max-attempts", "3"]
        concurrency = ["--concurrency", str(rng.choice([1, 3]))]
        with monkeypatch.context() as patch:
            patch.setattr(
                httpx.AsyncHTTPTransport, "handle_async_request", injecting_transport(rng, real)
            )
            first = run_cli("submit", path, *common, *concurrency, env=env)
        first_rows = read_results_csv(tmp_path / "requests.results.csv")
        processed_first = set(fates.processed)
        received_first = server.received.copy()
        fates.hostile = False
        # The first results file records sent rows, so it is kept: name a new one.
        second_path = tmp_path / "second.results.csv"
        second = run_cli("submit", path, *common, "--results", second_path, env=env)
        second_rows = read_results_csv(second_path)
        received_second = server.received - received_first
    assert first.exit_code in (0, 1), first.output
    assert second.exit_code in (0, 1), second.output
    assert [row["row"] for row in first_rows] == [str(n) for n in range(2, 12)]
    assert all(row["status"] in FINAL for row in first_rows), first_rows
    assert all(row["status"] in FINAL | {"skipped"} for row in second_rows), second_rows
    # What the server received (not what it recorded): nothing it acted on is sent again.
    assert not processed_first & set(received_second), (first_rows, received_second)
    for row in first_rows:
        if row["status"] == "accepted":
            assert second_rows[first_rows.index(row)]["status"] == "skipped"
