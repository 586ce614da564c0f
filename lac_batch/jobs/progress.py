"""How far a sending run has got: counts per status, the current rate, elapsed time and an
estimate of the time left. Kept apart from any display, so the terminal, the log lines of an
unattended run and a web page all count the same way."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lac_batch.model.status import RowResult, Status

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

RATE_WINDOW_S = 5.0
"""The current rate is measured over the last few seconds."""


@dataclass(frozen=True)
class ProgressSnapshot:
    """Where a run stands at one moment."""

    done: int
    """Rows settled by an answer or given up on (a row left unsent by a stop is not done)."""
    total: int
    counts: Counter[Status]
    unsent: int
    """Rows the run stopped before sending (they count in ``counts`` as ``not_sent``)."""
    rate: float
    elapsed_s: float
    eta_s: float | None
    """Seconds left at the current rate; None before any request (or after a stop)."""
    stopped: bool

    def fields(self) -> dict[str, Any]:
        """The snapshot as the fields of a JSON log line (stable names)."""
        return {
            "done": self.done,
            "total": self.total,
            "counts": {status.value: count for status, count in self.counts.items()},
            "rate_per_s": round(self.rate, 2),
            "elapsed_s": round(self.elapsed_s, 1),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
        }


class ProgressTally:
    """Counts what a :class:`~lac_batch.sending.engine.Submitter` does, for a progress display:
    feed it ``attempt_starting`` and ``row_finished``, ask for :meth:`snapshot`."""

    def __init__(self, total: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self._clock = clock
        self._started = clock()
        self._counts: Counter[Status] = Counter()
        self._unsent = 0
        self._starts: list[float] = []
        self._first_start: float | None = None
        self.stopped = False
        """A stop was asked for: no estimate of the time left from now on."""

    def attempt_starting(self) -> None:
        moment = self._clock()
        if self._first_start is None:
            self._first_start = moment
        self._starts.append(moment)

    def row_finished(self, result: RowResult) -> None:
        self._counts[result.status] += 1
        if result.status is Status.NOT_SENT and not result.attempts:
            self._unsent += 1

    @property
    def rate(self) -> float:
        """Requests started per second over the last few seconds (or since the first start)."""
        now = self._clock()
        cut = 0
        while cut < len(self._starts) and now - self._starts[cut] > RATE_WINDOW_S:
            cut += 1
        del self._starts[:cut]
        if self._first_start is None:
            return 0.0
        # Early in a run the window is not full yet: divide by the time actually covered.
        covered = min(RATE_WINDOW_S, max(now - self._first_start, 1.0))
        return len(self._starts) / covered

    def snapshot(self) -> ProgressSnapshot:
        done = sum(self._counts.values()) - self._unsent
        rate = self.rate
        left = self.total - done - self._unsent
        eta = left / rate if rate > 0 and not self.stopped and not self._unsent else None
        return ProgressSnapshot(
            done=done,
            total=self.total,
            counts=Counter(self._counts),
            unsent=self._unsent,
            rate=rate,
            elapsed_s=self._clock() - self._started,
            eta_s=0.0 if done == self.total else eta,
            stopped=self.stopped,
        )


def duration_text(seconds: float) -> str:
    """``45 s``, ``8 min``, ``2 h 47 min``: a rough duration for a person."""
    if seconds < 60:
        return f"{max(0, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
