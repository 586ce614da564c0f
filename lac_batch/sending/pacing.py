"""Start times for requests, and how many may be in flight.

**What is paced is what the server counts: arrivals.** The promise is "never more than R
requests in any one-second window as the server counts them", on the assumption that the server
counts a request when it arrives (as rate limiters on a gateway do). A request arrives after it
starts being written here, and the server has read it a little after its last byte was written,
which httpx's ``trace`` extension reports (:meth:`StartPacer.written`); that little varies, so a
written request stays counted :data:`_READ_SLACK_S` longer than a second. Two rules keep the
promise:

- **A grid.** Starts take slots 1/R apart (slot k = first + k / R), so sleep overshoot never
  accumulates; a slot missed by more than 1/R (a stalled machine, a long wait) is not caught up:
  the next start is 1/R after the late one, so a paused machine cannot bunch requests. One caller
  at a time holds the next slot.
- **A window over when the server may have counted a request.** A request may start at t only if
  fewer than R requests could have been counted in (t - 1, t]: those still being written, and those
  whose writing completed after t - 1 (less the slack). For any one-second window of arrivals, the
  request in it that started last saw every other one in it as being written or written inside the
  window, so there are at most R. A request written long ago that still waits for its answer no
  longer holds the next ones back: the rate does not fall with the server's latency. (A request
  whose writing was never reported, as with a transport that does not trace, counts as written when
  its answer came: the safe side.)

A server that counts otherwise (when it answers, or per connection) can see more than R in a
second while answers are slow; against such a server, lower ``--rate``.

**Concurrency** (:class:`InFlightLimit`): a number fixes it; ``auto`` holds about rate times latency
requests in flight (1.25 times that, plus one), up to :data:`MAX_CONCURRENCY`, where the latency
is the recent average from start to answer, or the age of the oldest unanswered request while
that is longer (before the first answer, it is all there is). It halves, at most once per
latency, when the server answers 429 or 503 or slows down (average latency over twice the
lowest seen), then grows back by one per limit's worth of answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from typing import Final, Literal

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_WINDOW_S = 1.0
_READ_SLACK_S = 0.015
"""How much longer than a second a written request stays counted. A server counts a request
once it has read it, a little after it was written here, by a delay that varies from request to
request (up to 7 ms measured with uvicorn in this process): a later request read sooner than an
earlier one must not make R + 1 in the server's second. It caps the rate at R / 1.015 (98.5 %)."""

AUTO: Final = "auto"
Concurrency = int | Literal["auto"]
"""Requests in flight at most: a fixed number, or ``auto`` (:class:`InFlightLimit`)."""
MAX_CONCURRENCY = 128
"""The most requests in flight, fixed or ``auto``."""
_HEADROOM = 1.25
"""In-flight requests held by ``auto`` per request the rate and latency need."""
_SLOWDOWN = 2.0
"""Average latency over this many times the lowest seen means the server slows down."""
_LATENCY_WEIGHT = 0.2
"""Weight of a new answer in the latency average (an exponential moving average)."""


def most_in_flight(concurrency: Concurrency) -> int:
    """The most requests ever in flight with this setting (the connection pool's size)."""
    return MAX_CONCURRENCY if concurrency == AUTO else int(concurrency)


def parse_concurrency(value: object) -> Concurrency:
    """``auto`` or a whole number from 1 to :data:`MAX_CONCURRENCY`; ValueError saying so."""
    expected = f"auto or a whole number from 1 to {MAX_CONCURRENCY}"
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    if isinstance(value, (bool, float)):
        raise ValueError(expected)
    try:
        number: int = int(value.strip() if isinstance(value, str) else value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(expected) from None
    if not 1 <= number <= MAX_CONCURRENCY:
        raise ValueError(expected)
    return number


class InFlightLimit:
    """How many requests may be in flight now: fixed, or adapted to the rate and the latency."""

    def __init__(self, rate: float, concurrency: Concurrency) -> None:
        self._rate = rate
        self._fixed = None if concurrency == AUTO else int(concurrency)
        self._latency: float | None = None
        self._lowest: float | None = None
        self._ceiling = float(MAX_CONCURRENCY)
        self._last_cut = -math.inf
        self.current = self._fixed or 1
        """The limit as last computed (for the progress line and the summary)."""

    @property
    def fixed(self) -> bool:
        return self._fixed is not None

    @property
    def most(self) -> int:
        """The most it can ever be (connections in the pool)."""
        return self._fixed or MAX_CONCURRENCY

    @property
    def latency(self) -> float | None:
        """Recent average seconds from start to answer; None before the first answer."""
        return self._latency

    def limit(self, now: float, oldest_start: float | None) -> int:
        if self._fixed is not None:
            return self._fixed
        age = 0.0 if oldest_start is None else now - oldest_start
        latency = age if self._latency is None else max(self._latency, min(age, 2 * self._latency))
        wanted = math.ceil(self._rate * latency * _HEADROOM) + 1
        self.current = max(1, min(wanted, math.floor(self._ceiling), MAX_CONCURRENCY))
        return self.current

    def answered(self, latency: float, now: float, *, overloaded: bool) -> None:
        """An answer came ``latency`` s after its start; ``overloaded``: it was a 429 or 503."""
        average = (
            latency
            if self._latency is None
            else (self._latency + _LATENCY_WEIGHT * (latency - self._latency))
        )
        self._latency = average
        self._lowest = average if self._lowest is None else min(self._lowest, average)
        if self._fixed is not None:
            return
        slower = average > _SLOWDOWN * self._lowest
        if overloaded or slower:
            # Once per round trip: the answers of requests sent before the cut say nothing new.
            if now - self._last_cut >= average:
                self._last_cut = now
                self._ceiling = max(1.0, self.current / 2)
        else:
            self._ceiling = min(float(MAX_CONCURRENCY), self._ceiling + 1 / self._ceiling)


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


class Turn:
    """One granted start: report :meth:`StartPacer.written` and :meth:`StartPacer.release`
    through it."""

    __slots__ = ("start", "written")

    def __init__(self, start: float) -> None:
        self.start = start
        self.written = False


class StartPacer:
    """Hands out starts; :meth:`pause_until` holds every worker back (a 429's Retry-After).

    Every :meth:`wait_turn` that returns a :class:`Turn` must be followed by one
    :meth:`release`, when the request has its answer (or was not sent after all).
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] | None = None,
        limit: InFlightLimit | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        # Exactly 1/R: the window rule, not a margin on the grid, absorbs round trips and jitter.
        self._interval = 1 / rate
        self._limit = max(1, math.floor(rate + 1e-9))
        self._clock = clock or asyncio.get_running_loop().time
        self.in_flight_limit = limit or InFlightLimit(rate, MAX_CONCURRENCY)
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._writing = 0
        """Requests started whose writing is not known to be complete."""
        self._written: deque[float] = deque()
        """When recent requests were written (or answered, if that was not reported)."""
        self._turns: dict[Turn, None] = {}
        """Requests in flight, oldest first."""
        self._released = asyncio.Event()
        self._holder = asyncio.Lock()
        """Held by the one caller waiting for the next slot."""

    @property
    def in_flight(self) -> int:
        return len(self._turns)

    def pause_until(self, moment: float) -> None:
        """No start before ``moment`` (loop time), for any worker, even one already waiting."""
        self._paused_until = max(self._paused_until, moment)

    def _take_slot(self) -> float:
        slot = max(self._next_slot, self._paused_until, self._clock())
        self._next_slot = slot + self._interval
        return slot

    def _may_have_been_counted(self, now: float) -> int:
        """Requests the server may count in (now - 1, now]: being written, or written since."""
        while self._written and self._written[0] <= now - _WINDOW_S - _READ_SLACK_S:
            self._written.popleft()
        return self._writing + len(self._written)

    def written(self, turn: Turn) -> None:
        """The request of ``turn`` was written whole: the server has it, or will in a moment."""
        if not turn.written and turn in self._turns:
            turn.written = True
            self._writing -= 1
            self._written.append(self._clock())
            self._released.set()

    def release(self, turn: Turn, *, sent: bool = True) -> None:
        """The request of ``turn`` has its answer (``sent``) or never left."""
        if turn not in self._turns:
            return
        del self._turns[turn]
        if not turn.written:
            turn.written = True
            self._writing -= 1
            if sent:
                self._written.append(self._clock())
        self._released.set()

    def _oldest_start(self) -> float | None:
        return next(iter(self._turns)).start if self._turns else None

    async def _room(self, stop: asyncio.Event | None) -> bool:
        """Wait until the window and the in-flight limit allow a start; True if one waited."""
        waited = False
        while True:
            if stop is not None and stop.is_set():
                return waited
            now = self._clock()
            counted = self._may_have_been_counted(now)
            full = self.in_flight >= self.in_flight_limit.limit(now, self._oldest_start())
            if counted < self._limit and not full:
                return waited
            self._released.clear()
            # The oldest write leaves the window then; a release or write may free a place sooner.
            until = 3600.0
            if counted >= self._limit and self._written:
                until = self._written[0] + _WINDOW_S + _READ_SLACK_S - now
            elif full and not self.in_flight_limit.fixed:
                # An answer frees a place; so may time, as the oldest request's age raises auto.
                until = self._interval
            waited = True
            await _sleep(until, stop, self._released)

    async def wait_turn(self, stop: asyncio.Event | None = None) -> Turn | None:
        """Return a :class:`Turn` when this caller may start, or None as soon as ``stop`` is set.

        A pause that began while waiting moves the caller to a slot after it.
        """
        async with self._holder:
            while True:
                if stop is not None and stop.is_set():
                    return None
                slot = self._take_slot()
                delay = slot - self._clock()
                if delay > 0:
                    await _sleep(delay, stop, None)
                    if stop is not None and stop.is_set():
                        return None
                if self._paused_until > slot:
                    continue
                if await self._room(stop):
                    if stop is not None and stop.is_set():
                        return None
                    # A start that had to wait takes a fresh slot: no burst after the wait.
                    self._next_slot = self._clock()
                    continue
                now = self._clock()
                if self._paused_until > now:
                    continue
                if now > slot + self._interval:
                    # A missed slot is not caught up: the next start is 1/R after this one.
                    self._next_slot = now + self._interval
                turn = Turn(now)
                self._turns[turn] = None
                self._writing += 1
                return turn
