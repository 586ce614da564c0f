"""What ``submit`` says while it works: notes on standard error, then the progress display.

Apart from ``cli/submit.py`` so that ``submit --help`` does not import the job (pandas, httpx).
"""

from __future__ import annotations

from pathlib import Path

import click

from lac_batch.cli.common import ledger_notices, say_results_kept
from lac_batch.cli.progress import ProgressReporter
from lac_batch.jobs.submit import HeldLedger, SubmitProgress
from lac_batch.model.status import RowResult
from lac_batch.sending.engine import Job
from lac_batch.settings.config import LogFormat

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


class _Progress(SubmitProgress):
    """What ``submit`` says while it works: notes on standard error, then the progress display."""

    def __init__(self, log_format: LogFormat, *, announce_new_ledger: bool) -> None:
        self._log_format = log_format
        self._announce = announce_new_ledger
        self._reporter: ProgressReporter | None = None

    def results_kept(self, asked: Path, instead: Path) -> None:
        say_results_kept(asked, instead)

    def ledger_opened(self, ledger: HeldLedger) -> None:
        ledger_notices(ledger, announce=self._announce)

    def file_warning(self, text: str) -> None:
        click.echo(f"Warning: {text}", err=True)

    def sending(self, requests: int) -> None:
        self._reporter = ProgressReporter(requests, log_format=self._log_format)

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        if self._reporter is not None:
            self._reporter.attempt_starting(job, attempt_number)

    def row_finished(self, job: Job, result: RowResult) -> None:
        if self._reporter is not None:
            self._reporter.row_finished(job, result)

    def pace(self, latency: float | None, concurrency: int) -> None:
        if self._reporter is not None:
            self._reporter.pace(latency, concurrency)
