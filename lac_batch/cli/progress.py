"""Progress while sending: a bar on a terminal, a plain or JSON line every few seconds elsewhere."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from lac_batch.model.status import RowResult, Status
from lac_batch.model.summary import format_counts
from lac_batch.sending.engine import Job
from lac_batch.settings.config import LogFormat

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

PLAIN_LINE_EVERY_S = 5.0
_RATE_WINDOW_S = 5.0


class ProgressReporter:
    """A :class:`~lac_batch.sending.engine.SubmitObserver` that shows counts per status, the
    rate, and the latency and concurrency in use."""

    def __init__(
        self,
        total: int,
        *,
        log_format: LogFormat = LogFormat.TEXT,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._total = total
        self._format = log_format
        self._stream = stream or sys.stderr
        self._clock = clock
        self._counts: Counter[Status] = Counter()
        self._starts: deque[float] = deque()
        self._first_start: float | None = None
        self._last_line = clock()
        self._latency: float | None = None
        self._concurrency = 0
        self._progress: Progress | None = None
        self._task_id: TaskID | None = None
        if log_format is LogFormat.TEXT and self._stream.isatty():
            self._progress = Progress(
                TextColumn("sending"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[counts]}"),
                console=Console(file=self._stream),
                transient=False,
            )

    def __enter__(self) -> ProgressReporter:
        if self._progress is not None:
            self._progress.start()
            self._task_id = self._progress.add_task("send", total=self._total, counts="")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def rate(self) -> float:
        """Requests started per second over the last few seconds (or since the first start)."""
        now = self._clock()
        while self._starts and now - self._starts[0] > _RATE_WINDOW_S:
            self._starts.popleft()
        if self._first_start is None:
            return 0.0
        # Early in a run the window is not full yet: divide by the time actually covered.
        covered = min(_RATE_WINDOW_S, max(now - self._first_start, 1.0))
        return len(self._starts) / covered

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        moment = self._clock()
        if self._first_start is None:
            self._first_start = moment
        self._starts.append(moment)

    def pace(self, latency: float | None, concurrency: int) -> None:
        """The latency and the concurrency in use (a :class:`PaceObserver`)."""
        self._latency = latency
        self._concurrency = concurrency

    def _pace_text(self) -> str:
        if self._latency is None:
            return ""
        return f", latency {self._latency:.2f} s, concurrency {self._concurrency}"

    def row_finished(self, job: Job, result: RowResult) -> None:
        self._counts[result.status] += 1
        done = sum(self._counts.values())
        if self._progress is not None and self._task_id is not None:
            self._progress.update(
                self._task_id,
                completed=done,
                counts=f"{format_counts(self._counts)}  {self.rate:.1f} req/s{self._pace_text()}",
            )
            return
        now = self._clock()
        if now - self._last_line >= PLAIN_LINE_EVERY_S or done == self._total:
            self._last_line = now
            self._write_line(done)

    def _write_line(self, done: int) -> None:
        if self._format is LogFormat.JSON:
            line = json.dumps(
                {
                    "event": "progress",
                    "done": done,
                    "total": self._total,
                    "counts": {status.value: count for status, count in self._counts.items()},
                    "rate_per_s": round(self.rate, 2),
                    "latency_s": None if self._latency is None else round(self._latency, 3),
                    "concurrency": self._concurrency or None,
                }
            )
        else:
            line = (
                f"progress: {done}/{self._total} rows, {format_counts(self._counts)}, "
                f"{self.rate:.1f} req/s{self._pace_text()}"
            )
        print(line, file=self._stream, flush=True)
