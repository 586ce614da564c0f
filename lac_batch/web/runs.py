"""A run the page starts: :func:`~lac_batch.jobs.submit.submit_file_async` on the server's loop.

The run belongs to the server, not to the browser tab: closing the tab stops nothing, and the
page shows the run again when reopened. One run at a time per server; the ledger's run lock
(the command line's: a SQLite ledger's file lock, or a PostgreSQL ledger's account locks)
keeps a page run and a command-line run from overlapping.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lac_batch.files.results import write_results
from lac_batch.jobs.submit import SubmitOptions, SubmitOutcome, SubmitProgress, submit_file_async
from lac_batch.model.errors import Interrupted, LacBatchError
from lac_batch.model.status import RowResult, Status
from lac_batch.model.stopping import StopHandle
from lac_batch.sending.engine import Job
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_OTHER_FORMAT = {".xlsx": ".csv", ".csv": ".xlsx"}


@dataclass
class Progress(SubmitProgress):
    """What the run has done so far, for the progress panel."""

    total: int = 0
    done: int = 0
    went_out: int = 0
    """Finished rows whose request left (rows a stop left not_sent finish at once)."""
    counts: Counter[Status] = field(default_factory=Counter)
    sending_since: float | None = None
    warnings: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def file_warning(self, text: str) -> None:
        self.warnings.append(text)

    def sending(self, requests: int) -> None:
        self.total = requests
        self.sending_since = time.monotonic()
        self.changed.set()

    def row_finished(self, job: Job, result: RowResult) -> None:
        self.done += 1
        self.counts[result.status] += 1
        self.went_out += result.status is not Status.NOT_SENT
        self.changed.set()

    @property
    def rate(self) -> float | None:
        """Rows finished per second since sending began."""
        if self.sending_since is None or not self.went_out:
            return None
        return self.went_out / max(time.monotonic() - self.sending_since, 1e-3)

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate
        return None if rate is None else (self.total - self.done) / rate


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
            copy = await asyncio.to_thread(write_results, other, table, outcome.results)
            run.results.append(copy.path)
    finally:
        run.progress.changed.set()
