"""Start times for requests: at most R in any one-second window, as the server counts them.

Two rules, both needed:

- **A grid.** Each start gets an absolute slot (slot k = first + k * interval), so sleep
  overshoot never accumulates and a late worker takes the next slot instead of bursting to catch
  up. (aiolimiter, measured here in FACTS.md: ``AsyncLimiter(30, 1)`` lets 59 through in the first
  second, ``AsyncLimiter(1, 1/30)`` reaches only 97 % of the rate.)
- **A window over when the server may have counted a request.** The server counts a request at
  some moment between its start here and its answer, and a stalled event loop or a slow server
  can bunch several of them together on its side: measured with the grid alone, the sandbox saw
  51-53 events in one second at R = 50. So a request may start at t only if fewer than R
  requests could have been counted in (t - 1, t]: those still in flight, and those answered
  after t - 1. Then for any one-second window of the server, the request in it that started
  last saw all the others in it as in flight or answered inside the window, so there are at
  most R.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_WINDOW_S = 1.0


async def _sleep(seconds: float, stop: asyncio.Event | None, wake: asyncio.Event | None) -> None:
    """Sleep up to ``seconds``; return early when ``stop`` or ``wake`` is set."""
    waiters = [event for event in (stop, wake) if event is not None]
    if not waiters:
        await asyncio.sleep(seconds)
        return
    tasks = [asyncio.ensure_future(event.wait()) for event in waiters]
    try:
        await asyncio.wait(tasks, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


class StartPacer:
    """Hands out starts; :meth:`pause_until` holds every worker back (a 429's Retry-After).

    Every :meth:`wait_turn` that returns True must be followed by one :meth:`release`, when the
    request has its answer (or was not sent after all).
    """

    def __init__(self, rate: float, clock: Callable[[], float] | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        # Exactly 1/R: the window rule, not a margin on the grid, absorbs round trips and jitter.
        self._interval = 1 / rate
        self._limit = max(1, math.floor(rate + 1e-9))
        self._clock = clock or asyncio.get_running_loop().time
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._in_flight = 0
        self._answered: deque[float] = deque()
        """When recent requests were answered, oldest first."""
        self._released = asyncio.Event()

    def pause_until(self, moment: float) -> None:
        """No start before ``moment`` (loop time), for any worker, even one already waiting."""
        self._paused_until = max(self._paused_until, moment)

    def _take_slot(self) -> float:
        # No lock needed: asyncio runs this synchronously, so slots are handed out one at a time.
        slot = max(self._next_slot, self._paused_until, self._clock())
        self._next_slot = slot + self._interval
        return slot

    def _may_have_been_counted(self, now: float) -> int:
        """Requests the server may count in (now - 1, now]: in flight, or answered since."""
        while self._answered and self._answered[0] <= now - _WINDOW_S:
            self._answered.popleft()
        return self._in_flight + len(self._answered)

    def release(self, *, sent: bool = True) -> None:
        """The request of a granted turn has its answer (``sent``) or never left."""
        self._in_flight -= 1
        if sent:
            self._answered.append(self._clock())
        self._released.set()

    async def _window_allows(self, stop: asyncio.Event | None) -> bool:
        while True:
            if stop is not None and stop.is_set():
                return False
            now = self._clock()
            if self._may_have_been_counted(now) < self._limit:
                return True
            self._released.clear()
            # The oldest answer leaves the window then; a release may free a place sooner.
            until = self._answered[0] + _WINDOW_S - now if self._answered else 3600.0
            await _sleep(until, stop, self._released)

    async def wait_turn(self, stop: asyncio.Event | None = None) -> bool:
        """Return True when this caller may start, or False as soon as ``stop`` is set.

        A pause that began while waiting moves the caller to a slot after it.
        """
        while True:
            slot = self._take_slot()
            if stop is not None and stop.is_set():
                return False
            delay = slot - self._clock()
            if delay > 0:
                await _sleep(delay, stop, None)
                if stop is not None and stop.is_set():
                    return False
            if self._paused_until > slot:
                continue
            if not await self._window_allows(stop):
                return False
            if self._paused_until > self._clock():
                continue
            self._in_flight += 1
            return True
