"""Injected faults: latency, 429/503/500, closed connections, a rate limit, repeatable by seed."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
import pytest
from sandbox_fixtures import ENDPOINT, VALID_BODY, WRITE, async_client_for, client_for, post

from lac_batch.sandbox import FaultConfig, Sandbox, running_sandbox
from lac_batch.sandbox.faults import Fault, FaultInjector, RateLimiter


async def post_async(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(ENDPOINT, json=VALID_BODY, headers=WRITE)


def post_from_new_async_client(sandbox: Sandbox) -> httpx.Response:
    """One POST from a plain ``httpx.AsyncClient`` with its default transport."""

    async def attempt() -> httpx.Response:
        async with async_client_for(sandbox) as client:
            return await post_async(client)

    return asyncio.run(attempt())


def statuses(sandbox: Sandbox, count: int) -> list[int | str]:
    """The status of ``count`` sequential requests, or ``"closed"`` for a dropped connection."""
    seen: list[int | str] = []
    with client_for(sandbox) as client:
        for _ in range(count):
            try:
                seen.append(post(client).status_code)
            except httpx.RemoteProtocolError:
                seen.append("closed")
    return seen


def test_no_faults_by_default() -> None:
    with running_sandbox() as sandbox:
        assert statuses(sandbox, 20) == [202] * 20


def test_latency_delays_the_answer() -> None:
    with running_sandbox(FaultConfig(latency_s=0.3)) as sandbox, client_for(sandbox) as client:
        started = time.perf_counter()
        response = post(client)
        elapsed = time.perf_counter() - started

    assert response.status_code == 202
    assert elapsed >= 0.3


def test_jitter_adds_a_random_delay_within_its_bound() -> None:
    injector = FaultInjector(FaultConfig(latency_s=0.1, latency_jitter_s=0.05, seed=1))

    delays = [injector.draw().delay_s for _ in range(200)]

    assert all(0.1 <= delay <= 0.15 for delay in delays)
    assert len(set(delays)) == 200


def test_injected_429_carries_retry_after() -> None:
    faults = FaultConfig(p_429=1.0, retry_after_s=7)
    with running_sandbox(faults) as sandbox, client_for(sandbox) as client:
        response = post(client)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"] == "rate_limited"
    assert sandbox.events() == []


@pytest.mark.parametrize(
    ("faults", "status", "error"),
    [
        (FaultConfig(p_503=1.0), 503, "service_unavailable"),
        (FaultConfig(p_500=1.0), 500, "internal_error"),
    ],
)
def test_injected_server_errors_use_the_envelope(
    faults: FaultConfig, status: int, error: str
) -> None:
    with running_sandbox(faults) as sandbox, client_for(sandbox) as client:
        response = post(client)

    assert response.status_code == status
    assert response.json()["error"] == error
    assert sandbox.events() == []


def test_close_before_processing_gives_the_client_no_response_and_records_nothing() -> None:
    with running_sandbox(FaultConfig(p_close_before=1.0)) as sandbox:
        with pytest.raises(httpx.RemoteProtocolError):
            post_from_new_async_client(sandbox)
        assert sandbox.events() == []


def test_close_after_processing_gives_the_client_no_response_but_records_the_event() -> None:
    with running_sandbox(FaultConfig(p_close_after=1.0)) as sandbox:
        with pytest.raises(httpx.RemoteProtocolError):
            post_from_new_async_client(sandbox)
        [event] = sandbox.events()
        assert event.body == VALID_BODY


def test_a_dropped_connection_affects_only_its_own_request() -> None:
    with running_sandbox() as sandbox:

        async def three_on_one_client() -> list[int | str]:
            seen: list[int | str] = []
            async with async_client_for(sandbox) as client:
                for faults in (FaultConfig(), FaultConfig(p_close_after=1.0), FaultConfig()):
                    sandbox.set_faults(faults)
                    try:
                        seen.append((await post_async(client)).status_code)
                    except httpx.RemoteProtocolError:
                        seen.append("closed")
            return seen

        assert asyncio.run(three_on_one_client()) == [202, "closed", 202]
        assert len(sandbox.events()) == 3


def test_dropping_a_connection_logs_no_server_error(caplog: pytest.LogCaptureFixture) -> None:
    faults = FaultConfig(p_close_before=0.5, p_close_after=0.5, seed=4)
    with caplog.at_level(logging.WARNING), running_sandbox(faults) as sandbox:
        assert set(statuses(sandbox, 10)) == {"closed"}

    assert caplog.records == []


def test_rate_limit_answers_429_with_retry_after_over_the_limit() -> None:
    with running_sandbox(FaultConfig(rate_limit_per_s=3)) as sandbox:
        with client_for(sandbox) as client:
            responses = [post(client) for _ in range(5)]

        assert [response.status_code for response in responses] == [202, 202, 202, 429, 429]
        assert all(int(response.headers["Retry-After"]) >= 1 for response in responses[3:])
        assert responses[3].json()["error"] == "rate_limited"
        assert len(sandbox.events()) == 3


def test_rate_limit_admits_again_once_the_window_has_passed() -> None:
    limiter = RateLimiter(per_second=2)

    assert [limiter.retry_after(now) for now in (10.0, 10.1, 10.2)] == [None, None, 1]
    assert limiter.retry_after(11.05) is None
    assert limiter.retry_after(11.06) == 1


def test_same_seed_repeats_the_same_faults() -> None:
    faults = FaultConfig(p_503=0.3, p_500=0.2, p_close_before=0.1, p_close_after=0.1, seed=42)
    runs = []
    for _ in range(2):
        with running_sandbox(faults) as sandbox:
            runs.append(statuses(sandbox, 30))

    assert runs[0] == runs[1]
    assert set(runs[0]) == {202, 500, 503, "closed"}


def test_another_seed_gives_other_faults() -> None:
    def decisions(seed: int) -> list[Fault | None]:
        injector = FaultInjector(FaultConfig(p_503=0.5, seed=seed))
        return [injector.draw().fault for _ in range(30)]

    assert decisions(1) != decisions(2)


def test_fault_fractions_follow_the_probabilities() -> None:
    injector = FaultInjector(FaultConfig(p_429=0.1, p_503=0.2, p_close_after=0.3, seed=7))

    drawn = [injector.draw().fault for _ in range(10_000)]

    assert 900 < drawn.count(Fault.TOO_MANY_REQUESTS) < 1100
    assert 1800 < drawn.count(Fault.SERVICE_UNAVAILABLE) < 2200
    assert 2700 < drawn.count(Fault.CLOSE_AFTER) < 3300
    assert 3600 < drawn.count(None) < 4400


def test_set_faults_restarts_the_dice_from_the_new_seed() -> None:
    faults = FaultConfig(p_503=0.5, seed=9)
    with running_sandbox(faults) as sandbox:
        first = statuses(sandbox, 10)
        sandbox.set_faults(faults)
        again = statuses(sandbox, 10)

    assert first == again


@pytest.mark.parametrize(
    "settings",
    [
        {"p_503": 1.5},
        {"p_500": -0.1},
        {"p_429": 0.6, "p_503": 0.6},
        {"latency_s": -1.0},
        {"latency_jitter_s": -0.5},
        {"retry_after_s": -1},
        {"rate_limit_per_s": 0},
    ],
)
def test_impossible_fault_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FaultConfig(**settings)  # type: ignore[arg-type]


def test_arrivals_are_stamped_when_a_request_is_read_not_after_its_latency() -> None:
    with running_sandbox(FaultConfig(latency_s=3.0)) as sandbox:
        before = time.monotonic()
        answered = threading.Event()

        def send() -> None:
            with client_for(sandbox) as client:
                post(client)
            answered.set()

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        deadline = time.monotonic() + 10
        while not sandbox.arrivals() and time.monotonic() < deadline:
            time.sleep(0.01)
        arrivals = sandbox.arrivals()
        still_waiting = not answered.is_set()
        sender.join(15)

    assert still_waiting
    assert len(arrivals) == 1
    assert before <= arrivals[0] <= time.monotonic()


def test_requests_turned_away_at_the_gateway_are_arrivals_too() -> None:
    with running_sandbox(FaultConfig(rate_limit_per_s=2)) as sandbox:
        with client_for(sandbox) as client:
            codes = [post(client).status_code for _ in range(4)]
        arrivals = sandbox.arrivals()

    assert codes == [202, 202, 429, 429]
    assert len(arrivals) == 4
    assert arrivals == sorted(arrivals)
