"""Start slots: a fixed grid at 1/R, no catch-up bursts, a shared pause; the window over what
the server may have counted; the in-flight limit (fixed or auto)."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

import pytest

from lac_batch.sending.pacing import (
    _READ_SLACK_S,
    AUTO,
    MAX_CONCURRENCY,
    InFlightLimit,
    StartPacer,
    Turn,
    parse_concurrency,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_slots_form_a_grid_at_one_over_r() -> None:
    clock = FakeClock()
    pacer = StartPacer(10, clock)
    slots = [pacer._take_slot() for _ in range(25)]
    assert slots[0] == 100.0
    assert all(b - a == pytest.approx(1 / 10) for a, b in pairwise(slots))


def test_a_late_caller_takes_the_next_slot_instead_of_bursting() -> None:
    clock = FakeClock()
    pacer = StartPacer(10, clock)
    pacer._take_slot()
    clock.now += 5  # nobody asked for five seconds
    first, second = pacer._take_slot(), pacer._take_slot()
    assert first == 105.0
    assert second == pytest.approx(105.0 + 1 / 10)


def test_pause_moves_every_later_slot() -> None:
    clock = FakeClock()
    pacer = StartPacer(10, clock)
    pacer._take_slot()
    pacer.pause_until(130.0)
    assert pacer._take_slot() == 130.0


def test_waiting_callers_are_released_in_order_and_stop_wakes_them() -> None:
    async def go() -> tuple[list[int], Turn | None]:
        pacer = StartPacer(50)
        order: list[int] = []

        async def worker(number: int) -> None:
            if await pacer.wait_turn() is not None:
                order.append(number)

        await asyncio.gather(*(worker(number) for number in range(5)))
        stop = asyncio.Event()
        pacer.pause_until(asyncio.get_running_loop().time() + 60)
        waiting = asyncio.create_task(pacer.wait_turn(stop))
        await asyncio.sleep(0.01)
        stop.set()
        return order, await asyncio.wait_for(waiting, 1)

    order, released = asyncio.run(go())
    assert order == [0, 1, 2, 3, 4]
    assert released is None


def test_window_counts_requests_being_written_and_recently_written() -> None:
    async def go() -> tuple[int, int, int, int]:
        clock = FakeClock()
        pacer = StartPacer(3, clock)
        first, second = await pacer.wait_turn(), await pacer.wait_turn()
        assert first is not None and second is not None
        pacer.written(first)  # written at 100.0; second is still being written
        clock.now = 100.5
        half = pacer._may_have_been_counted(clock.now)
        clock.now = 101.0
        at_one_second = pacer._may_have_been_counted(clock.now)  # the server may read it late
        clock.now = 101.0 + _READ_SLACK_S
        later = pacer._may_have_been_counted(clock.now)  # the first left the window
        pacer.release(first)  # its answer changes nothing: it was counted when written
        return half, at_one_second, later, pacer._may_have_been_counted(clock.now)

    assert asyncio.run(go()) == (2, 2, 1, 1)


def test_a_request_answered_without_a_written_report_counts_from_its_answer() -> None:
    async def go() -> tuple[int, int]:
        clock = FakeClock()
        pacer = StartPacer(3, clock)
        turn = await pacer.wait_turn()
        assert turn is not None
        clock.now = 105.0
        pacer.release(turn)  # a transport that does not trace: counted when answered
        counted = pacer._may_have_been_counted(105.5)
        return counted, pacer._may_have_been_counted(106.0 + _READ_SLACK_S)

    assert asyncio.run(go()) == (1, 0)


def test_written_requests_waiting_for_answers_do_not_hold_back_the_next() -> None:
    async def go() -> int:
        pacer = StartPacer(5, limit=InFlightLimit(5, 100))
        started = 0
        # 12 requests, none answered: each written at once, as a server with a long latency has.
        for _ in range(12):
            turn = await asyncio.wait_for(pacer.wait_turn(), 2.0)
            assert turn is not None
            pacer.written(turn)
            started += 1
        return started

    assert asyncio.run(go()) == 12


def test_a_start_waits_until_the_server_cannot_have_counted_r_in_a_second() -> None:
    async def go() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        pacer = StartPacer(3)
        turns = [await pacer.wait_turn() for _ in range(3)]
        # Three requests being written: a fourth may not start, whatever the grid says.
        fourth = asyncio.create_task(pacer.wait_turn())
        await asyncio.sleep(0.6)
        assert not fourth.done()
        answered = loop.time()
        assert turns[0] is not None
        pacer.release(turns[0])  # answered, never reported written: counted just now
        assert await fourth is not None
        return answered, loop.time()

    answered, started = asyncio.run(go())
    assert started >= answered + 1.0


def test_a_missed_slot_is_not_caught_up_after_a_stall() -> None:
    """The loop blocked for a while: the starts after it are still 1/R apart."""

    async def go() -> list[float]:
        loop = asyncio.get_running_loop()
        pacer = StartPacer(20, limit=InFlightLimit(20, 100))
        starts: list[float] = []

        async def worker() -> None:
            for _ in range(6):
                turn = await pacer.wait_turn()
                assert turn is not None
                pacer.written(turn)
                starts.append(loop.time())

        tasks = [asyncio.create_task(worker()) for _ in range(4)]
        await asyncio.sleep(0.12)
        time.sleep(0.5)  # blocks the event loop: every waiting slot is missed
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        return starts

    starts = asyncio.run(go())
    gaps = [b - a for a, b in pairwise(starts)]
    assert min(gaps) >= 1 / 20 * 0.9


def test_fixed_concurrency_is_the_limit_whatever_the_latency() -> None:
    limit = InFlightLimit(20, 4)
    limit.answered(3.0, 10.0, overloaded=False)
    assert limit.limit(10.0, 5.0) == 4
    assert limit.most == 4


def test_auto_concurrency_grows_to_rate_times_latency() -> None:
    limit = InFlightLimit(20, AUTO)
    assert limit.limit(0.0, None) == 1
    # No answer yet: the oldest request's age is all that is known of the latency.
    assert limit.limit(1.0, 0.0) >= 20
    for moment in range(10):
        limit.answered(2.0, 10.0 + moment, overloaded=False)
    assert 40 <= limit.limit(20.0, 19.0) <= MAX_CONCURRENCY


def test_auto_concurrency_halves_on_429_or_503_once_per_round_trip() -> None:
    limit = InFlightLimit(20, AUTO)
    for moment in range(10):
        limit.answered(1.0, float(moment), overloaded=False)
    before = limit.limit(10.0, 9.5)
    limit.answered(1.0, 10.0, overloaded=True)
    limit.answered(1.0, 10.1, overloaded=True)  # the same round trip: no second cut
    assert limit.limit(10.1, 9.5) == max(1, before // 2)


def test_auto_concurrency_shrinks_when_the_server_slows_down() -> None:
    limit = InFlightLimit(20, AUTO)
    for moment in range(10):
        limit.answered(0.5, float(moment), overloaded=False)
    before = limit.limit(10.0, 9.8)
    for moment in range(10, 30):
        limit.answered(5.0, float(moment), overloaded=False)
    assert limit.limit(30.0, 29.0) < before


@pytest.mark.parametrize("text", ["0", "129", "2.5", "many", ""])
def test_concurrency_is_auto_or_a_whole_number_in_range(text: str) -> None:
    with pytest.raises(ValueError, match="auto or a whole number from 1 to 128"):
        parse_concurrency(text)
    assert parse_concurrency("Auto") == AUTO
    assert parse_concurrency("7") == 7
