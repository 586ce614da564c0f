"""Start slots: a fixed grid at 1/R (plus headroom), no catch-up bursts, a shared pause."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from lac_batch.sending.pacing import StartPacer


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
    async def go() -> tuple[list[int], bool]:
        pacer = StartPacer(50)
        order: list[int] = []

        async def worker(number: int) -> None:
            if await pacer.wait_turn():
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
    assert released is False


def test_window_counts_requests_in_flight_and_recently_answered() -> None:
    clock = FakeClock()
    pacer = StartPacer(3, clock)
    pacer._in_flight = 2
    pacer.release()  # answered at 100.0
    assert pacer._may_have_been_counted(100.5) == 2
    assert pacer._may_have_been_counted(101.0) == 1  # the answer left the window


def test_a_start_waits_until_the_server_cannot_have_counted_r_in_a_second() -> None:
    async def go() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        pacer = StartPacer(3)
        for _ in range(3):
            assert await pacer.wait_turn()
        # Three requests in flight: a fourth may not start, whatever the grid says.
        fourth = asyncio.create_task(pacer.wait_turn())
        await asyncio.sleep(0.6)
        assert not fourth.done()
        answered = loop.time()
        pacer.release()  # one answer: the server may have counted it just now
        assert await fourth
        return answered, loop.time()

    answered, started = asyncio.run(go())
    assert started >= answered + 1.0
