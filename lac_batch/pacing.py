"""Start times for requests: at most R starts in any one-second window, and a shared pause.

Why not aiolimiter: measured here (see FACTS.md) ``AsyncLimiter(30, 1)`` lets 59 through in the
first second (a full bucket), and ``AsyncLimiter(1, 1/30)`` reaches only 97 % of the rate because
every sleep overshoots and the overshoot accumulates. Here each start gets an absolute slot on a
fixed grid (slot k = first + k * interval), so overshoot never accumulates, and a worker that is
late takes the next free slot instead of bursting to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

__all__ = ["HEADROOM", "StartPacer"]

HEADROOM = 1.01
"""Slots are 1 % further apart than 1/R, so that network jitter between here and the server
never makes the server count R + 1 arrivals in one second."""


class StartPacer:
    """Hands out start slots; :meth:`pause_until` holds every worker back (a 429's Retry-After)."""

    def __init__(self, rate: float, clock: Callable[[], float] | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = HEADROOM / rate
        self._clock = clock or asyncio.get_running_loop().time
        self._next_slot = 0.0
        self._paused_until = 0.0

    @property
    def interval(self) -> float:
        return self._interval

    def pause_until(self, moment: float) -> None:
        """No start before ``moment`` (loop time), for any worker, even one already waiting."""
        self._paused_until = max(self._paused_until, moment)

    def _take_slot(self) -> float:
        # No lock needed: asyncio runs this synchronously, so slots are handed out one at a time.
        slot = max(self._next_slot, self._paused_until, self._clock())
        self._next_slot = slot + self._interval
        return slot

    async def wait_turn(self, stop: asyncio.Event | None = None) -> bool:
        """Return True at this caller's start slot, or False as soon as ``stop`` is set.

        A pause that began while waiting moves the caller to a slot after it.
        """
        while True:
            slot = self._take_slot()
            delay = slot - self._clock()
            if stop is not None and stop.is_set():
                return False
            if delay > 0:
                if stop is None:
                    await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
                    if stop.is_set():
                        return False
            if self._paused_until <= slot:
                return True
