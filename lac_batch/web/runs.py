"""A run the page starts: :func:`~lac_batch.jobs.submit.submit_file_async` on the server's loop.

The run belongs to the server, not to the browser tab: closing the tab stops nothing, and the
page shows the run again when reopened. One run at a time per server; the ledger's run lock
(the command line's: a SQLite ledger's file lock, or a PostgreSQL ledger's account locks)
keeps a page run and a command-line run from overlapping.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from lac_batch.files.results import write_results
from lac_batch.jobs.progress import ProgressSnapshot, ProgressTally
from lac_batch.jobs.submit import (
    SendPlan,
    SubmitOptions,
    SubmitOutcome,
    SubmitProgress,
    submit_file_async,
)
from lac_batch.model.errors import Interrupted, LacBatchError
from lac_batch.model.status import RowResult
from lac_batch.model.stopping import StopHandle
from lac_batch.sending.engine import Job, RetryNotice
from lac_batch.settings.ledger_url import LedgerUrl
from lac_batch.web.wording import abandoning_words, retry_words, stopping_words

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_OTHER_FORMAT = {".xlsx": ".csv", ".csv": ".xlsx"}


@dataclass(frozen=True)
class Notice:
    """A sentence the run tells while it works (the command line's notes above its live line)."""

    kind: str
    """``retrying``, ``stopping`` or ``abandoning``."""
    text: str


class Progress(SubmitProgress):
    """What the run has done so far, for the progress panel: counted by the library's
    :class:`~lac_batch.jobs.progress.ProgressTally`, as the command line counts."""

    def __init__(self) -> None:
        self.tally: ProgressTally | None = None
        self.plan: SendPlan | None = None
        self.warnings: list[str] = []
        self.retry: Notice | None = None
        """The latest retry or slow-down notice (with the count of retries so far)."""
        self.stop_notice: Notice | None = None
        self.changed = asyncio.Event()

    def file_warning(self, text: str) -> None:
        self.warnings.append(text)

    def confirm(self, plan: SendPlan) -> bool:
        # The page asked before the run started; this keeps what the library planned to say.
        self.plan = plan
        return True

    def sending(self, requests: int) -> None:
        self.tally = ProgressTally(requests)
        self.changed.set()

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        if self.tally is not None:
            self.tally.attempt_starting()

    def row_finished(self, job: Job, result: RowResult) -> None:
        if self.tally is not None:
            self.tally.row_finished(result)
        self.changed.set()

    def retrying(self, notice: RetryNotice) -> None:
        self.retry = Notice("retrying", retry_words(notice))
        self.changed.set()

    def stopping(self, in_flight: int, most_wait_s: float) -> None:
        if self.tally is not None:
            self.tally.stopped = True
        self.stop_notice = Notice("stopping", stopping_words(in_flight, most_wait_s))
        self.changed.set()

    def abandoning(self, in_flight: int) -> None:
        self.stop_notice = Notice("abandoning", abandoning_words(in_flight))
        self.changed.set()

    def snapshot(self) -> ProgressSnapshot | None:
        return None if self.tally is None else self.tally.snapshot()


@dataclass
class PageRun:
    number: int
    source: Path
    """The file sent (the upload, or the edited copy saved before sending)."""
    destination: str
    progress: Progress = field(default_factory=Progress)
    stop: StopHandle = field(default_factory=StopHandle)
    outcome: SubmitOutcome | None = None
    problem: str = ""
    """One paragraph when the run could not start (nothing was sent)."""
    results: list[Path] = field(default_factory=list)
    """The results files, as the command line writes them (.xlsx and .csv)."""
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self.task is not None and self.task.done()

    @property
    def stopping(self) -> str:
        if not self.stop.is_set():
            return ""
        return "abandoning the requests in flight" if self.stop.abandoned else "stopping"


async def run_submit(
    run: PageRun, options: SubmitOptions, ledger: Path | LedgerUrl | None, results: Path
) -> None:
    """Send ``run.source``; keep the outcome (or the one paragraph it failed with) on ``run``."""
    try:
        outcome = await submit_file_async(
            run.source,
            options,
            results=results,
            ledger=ledger,
            progress=run.progress,
            stop=run.stop,
        )
    except (LacBatchError, Interrupted) as error:
        run.problem = str(error)
    else:
        run.outcome = outcome
        if outcome.written is not None:
            written = outcome.written.path
            run.results.append(written)
            other = written.with_suffix(_OTHER_FORMAT.get(written.suffix.lower(), ".csv"))
            table = outcome.report.sheet.table
            copy = await asyncio.to_thread(
                write_results, other, table, outcome.results, issues=outcome.report.row_issues
            )
            run.results.append(copy.path)
    finally:
        run.progress.changed.set()
