"""The configured rate is reached whatever the server's latency, and never exceeded as the server
counts: a real HTTP server on loopback answers every request after a fixed delay, and records
when each request arrived whole."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from lac_batch.sending.api import LacClient, build_http_client
from lac_batch.sending.credentials import ApiKey
from lac_batch.sending.engine import Job, SubmitRun, Submitter
from lac_batch.sending.pacing import most_in_flight
from lac_batch.settings.config import Settings

BOUND_S = 60.0
"""No run here may take longer than this, whatever goes wrong."""


@dataclass
class SlowServer:
    """Answers every POST 202 after ``latency`` seconds; ``arrivals`` are time.monotonic()
    moments at which each request had arrived whole."""

    latency: float
    arrivals: list[float] = field(default_factory=list)
    port: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.arrivals.append(time.monotonic())
                await asyncio.sleep(self.latency)
                body = b'{"event_id": "evt_%d"}' % len(self.arrivals)
                writer.write(
                    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextmanager
def slow_server(latency: float) -> Iterator[SlowServer]:
    server = SlowServer(latency)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stopped = asyncio.Event()

    async def main() -> None:
        listening = await asyncio.start_server(server._serve, "127.0.0.1", 0)
        server.port = listening.sockets[0].getsockname()[1]
        ready.set()
        async with listening:
            await stopped.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stopped.set)
        thread.join(10)


def busiest_window(times: list[float], width: float = 1.0) -> int:
    """Most arrivals in any [t, t + width) starting at an arrival (sorted input)."""
    most = end = 0
    for start, moment in enumerate(times):
        while end < len(times) and times[end] < moment + width:
            end += 1
        most = max(most, end - start)
    return most


def arrival_rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def send_rows(
    server: SlowServer, rows: int, settings: Settings, stall_after: float | None = None
) -> SubmitRun:
    """Send ``rows`` jobs with lac-batch's engine and HTTP client; with ``stall_after``, block
    the client's event loop for 2 s that long after the start."""
    jobs = [Job(number, f'{{"n": {number}}}', f"idem-{number}") for number in range(2, rows + 2)]
    submit = settings.submit_settings()

    async def go() -> SubmitRun:
        async with build_http_client(
            timeout=submit.timeout, concurrency=most_in_flight(submit.concurrency)
        ) as http:
            client = LacClient(http, f"http://127.0.0.1:{server.port}/portal", ApiKey("lac_sk_t"))
            sending = asyncio.ensure_future(Submitter(client, submit).run(jobs))
            if stall_after is not None:
                await asyncio.sleep(stall_after)
                time.sleep(2.0)  # the whole client stands still: a paused machine
            return await asyncio.wait_for(sending, BOUND_S)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("rate", "latency", "rows"),
    [(20, 0.5, 70), (20, 2.0, 70), (5, 3.0, 20)],
)
def test_the_rate_is_reached_with_default_concurrency_whatever_the_latency(
    rate: float, latency: float, rows: int
) -> None:
    with slow_server(latency) as server:
        run = send_rows(server, rows, Settings(rate=rate))
    arrivals = sorted(server.arrivals)
    assert len(arrivals) == rows
    assert all(result.status == "accepted" for result in run.results.values())
    # Today's figures were 8/s, 2/s and 2/s (concurrency 4; pacing by answers): far below.
    assert arrival_rate(arrivals) >= 0.9 * rate
    assert busiest_window(arrivals) <= rate
    assert run.auto_concurrency and run.latency is not None
    assert run.latency == pytest.approx(latency, abs=0.3)
    assert run.concurrency >= rate * latency


def test_a_fixed_concurrency_still_caps_requests_in_flight() -> None:
    with slow_server(0.5) as server:
        run = send_rows(server, 12, Settings(rate=20, concurrency=2))
    arrivals = sorted(server.arrivals)
    assert len(arrivals) == 12
    # Two in flight, each answered after 0.5 s: about 4 per second, never more than 2 at once.
    assert busiest_window(arrivals) <= 5
    assert run.concurrency == 2 and not run.auto_concurrency


def test_a_stalled_client_never_bunches_more_than_r_arrivals_into_a_second() -> None:
    rate = 20
    with slow_server(0.5) as server:
        run = send_rows(server, 80, Settings(rate=rate), stall_after=1.0)
    arrivals = sorted(server.arrivals)
    assert len(arrivals) == 80
    assert len(run.results) == 80
    assert busiest_window(arrivals) <= rate
    # And after the stall the starts are 1/R apart again: no burst to catch up.
    stall_gap = max(range(1, len(arrivals)), key=lambda i: arrivals[i] - arrivals[i - 1])
    after = arrivals[stall_gap : stall_gap + 10]
    assert busiest_window(after, width=0.25) <= 0.25 * rate + 2
