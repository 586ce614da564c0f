"""Progress while sending: one live line on a terminal, a plain or JSON line every few seconds
elsewhere; and the notes told while it runs (throttling, stopping), above the live line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from lac_batch.jobs.progress import ProgressSnapshot, ProgressTally, duration_text
from lac_batch.model.status import RowResult
from lac_batch.model.summary import format_counts
from lac_batch.model.wording import count_of
from lac_batch.sending.engine import Job, RetryNotice
from lac_batch.settings.config import LogFormat

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

PLAIN_LINE_EVERY_S = 5.0
RETRY_NOTE_EVERY_S = 10.0
"""Throttling and retries are told at once, then at most this often (each with the count)."""


def progress_text(snapshot: ProgressSnapshot) -> str:
    """``accepted 40, failed 1, 4.9 req/s, elapsed 9 s, about 3 min left``."""
    parts = [format_counts(snapshot.counts) or "no answers yet", f"{snapshot.rate:.1f} req/s"]
    parts.append(f"elapsed {duration_text(snapshot.elapsed_s)}")
    if snapshot.eta_s is not None and snapshot.done < snapshot.total:
        parts.append(f"about {duration_text(snapshot.eta_s)} left")
    return ", ".join(parts)


def retry_text(notice: RetryNotice) -> str:
    """``server asked to slow down (429, Retry-After 3 s): paused; 17 retries so far``."""
    hint = "" if notice.retry_after is None else f", Retry-After {notice.retry_after:g} s"
    so_far = f"{count_of(notice.retries, 'retry', 'retries')} so far"
    if notice.http_status == 429:
        return f"server asked to slow down (429{hint}): paused; {so_far}"
    if notice.http_status is None:
        what = "a request got no answer"
    else:
        what = f"server answered {notice.http_status}{hint}"
    return f"{what}: sending it again in {duration_text(notice.wait_s)}; {so_far}"


class ProgressReporter:
    """A :class:`~lac_batch.sending.engine.SubmitObserver` that shows counts per status, the
    rate, the elapsed time and an estimate of the time left; the latency and concurrency in
    use off a terminal. Use it as a context manager: on a terminal the live line lasts while
    inside."""

    def __init__(
        self,
        total: int,
        *,
        log_format: LogFormat = LogFormat.TEXT,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        live: bool | None = None,
    ) -> None:
        self._total = total
        self._format = log_format
        self._stream = stream or sys.stderr
        self._clock = clock
        self._tally = ProgressTally(total, clock=clock)
        self._last_line = clock()
        self._last_retry_note: float | None = None
        self._latency: float | None = None
        self._concurrency = 0
        self._progress: Progress | None = None
        self._task_id: TaskID | None = None
        self._closed = False
        if live is None:
            live = log_format is LogFormat.TEXT and self._stream.isatty()
        if live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                TextColumn("{task.fields[text]}"),
                console=Console(file=self._stream),
                transient=False,
                refresh_per_second=4,
            )

    def __enter__(self) -> ProgressReporter:
        if self._progress is not None:
            self._progress.start()
            self._task_id = self._progress.add_task(
                "sending", total=self._total, text=progress_text(self._tally.snapshot())
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """The last state: the live line stays on screen as it ended; else a last line."""
        if self._progress is not None:
            if self._task_id is not None:
                self._refresh(final=True)
                self._progress.stop()
                self._task_id = None
            return
        if not self._closed:
            self._closed = True
            self._write_line(self._tally.snapshot())

    @property
    def rate(self) -> float:
        return self._tally.rate

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        self._tally.attempt_starting()

    def pace(self, latency: float | None, concurrency: int) -> None:
        """The latency and the concurrency in use (a :class:`PaceObserver`)."""
        self._latency = latency
        self._concurrency = concurrency

    def _pace_text(self) -> str:
        if self._latency is None:
            return ""
        return f", latency {self._latency:.2f} s, concurrency {self._concurrency}"

    def row_finished(self, job: Job, result: RowResult) -> None:
        self._tally.row_finished(result)
        if self._progress is not None:
            self._refresh()
            return
        now = self._clock()
        if now - self._last_line >= PLAIN_LINE_EVERY_S:
            self._last_line = now
            self._write_line(self._tally.snapshot())

    def _refresh(self, final: bool = False) -> None:
        assert self._progress is not None
        if self._task_id is None:
            return
        snapshot = self._tally.snapshot()
        description = "sending"
        if snapshot.stopped or snapshot.unsent:
            description = "stopped" if final else "stopping"
        elif final:
            description = "sent"
        self._progress.update(
            self._task_id,
            completed=snapshot.done,
            description=description,
            text=progress_text(snapshot),
        )

    def retrying(self, notice: RetryNotice) -> None:
        """Tell of throttling and retries: at once, then at most every RETRY_NOTE_EVERY_S."""
        now = self._clock()
        if self._last_retry_note is not None and now - self._last_retry_note < RETRY_NOTE_EVERY_S:
            return
        self._last_retry_note = now
        self.note(
            retry_text(notice),
            event="retrying",
            http_status=notice.http_status,
            retry_after_s=notice.retry_after,
            wait_s=round(notice.wait_s, 2),
            retries=notice.retries,
        )

    def stopping(self) -> None:
        """A stop was asked for: no estimate of the time left any more."""
        self._tally.stopped = True
        if self._progress is not None:
            self._refresh()

    def note(self, text: str, *, event: str, **fields: Any) -> None:
        """A sentence told while sending: above the live line, or as a line (JSON: an event)."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        elif self._format is LogFormat.JSON:
            line = {"event": event, "message": text, **fields}
            print(json.dumps(line, ensure_ascii=False), file=self._stream, flush=True)
        else:
            print(text, file=self._stream, flush=True)

    def _write_line(self, snapshot: ProgressSnapshot) -> None:
        if self._format is LogFormat.JSON:
            line = json.dumps(
                {
                    "event": "progress",
                    **snapshot.fields(),
                    "stopped": snapshot.stopped or bool(snapshot.unsent),
                    "latency_s": None if self._latency is None else round(self._latency, 3),
                    "concurrency": self._concurrency or None,
                }
            )
        else:
            stopped = " (stopped)" if snapshot.stopped or snapshot.unsent else ""
            line = (
                f"progress: {snapshot.done:,}/{count_of(snapshot.total, 'row')}{stopped}, "
                f"{progress_text(snapshot)}{self._pace_text()}"
            )
        print(line, file=self._stream, flush=True)
