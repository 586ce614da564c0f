"""The submit job as a library call: read → validate → send → results file → exit code.

:func:`submit_file` is what ``lac-batch submit`` runs; a Python caller can run it too. Every row
of the input ends with exactly one status in the results file, whatever happens.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lac_batch.api import LacClient, build_http_client
from lac_batch.credentials import ApiKey, normalise_base_url
from lac_batch.exit_codes import ExitCode, most_severe
from lac_batch.fingerprint import request_fingerprint
from lac_batch.results import ResultsWritten, RowResult, write_results
from lac_batch.status import Status
from lac_batch.submit import Job, StopReason, SubmitObserver, SubmitRun, SubmitSettings, Submitter
from lac_batch.validation import RequestSheet, ValidationReport, validate

__all__ = ["SubmitOptions", "SubmitOutcome", "build_jobs", "submit_sheet"]

_STOP_EXIT_CODES = {
    StopReason.INTERRUPTED: ExitCode.INTERRUPTED,
    StopReason.AUTH_REFUSED: ExitCode.AUTH_REFUSED,
    StopReason.WRONG_BASE_URL: ExitCode.UNUSABLE,
}
_OK_STATUSES = frozenset({Status.ACCEPTED, Status.SKIPPED})


@dataclass(frozen=True)
class SubmitOptions:
    base_url: str
    api_key: ApiKey
    settings: SubmitSettings = field(default_factory=SubmitSettings)
    allow_duplicates: bool = False
    dry_run: bool = False
    require_all_valid: bool = False
    ca_bundle: Path | None = None
    handle_signals: bool = False
    """Install Ctrl-C/SIGTERM handlers (the CLI does; a library caller may not want them)."""


@dataclass
class SubmitOutcome:
    report: ValidationReport
    results: list[RowResult]
    written: ResultsWritten
    exit_code: ExitCode
    run: SubmitRun | None = None

    @property
    def counts(self) -> Counter[Status]:
        return Counter(result.status for result in self.results)


def build_jobs(report: ValidationReport, base_url: str, account: str) -> list[Job]:
    """One job per valid row, its Idempotency-Key the row's fingerprint."""
    normalised = normalise_base_url(base_url)
    return [
        Job(
            row.row_number,
            row.body_json,
            request_fingerprint(normalised, account, row.body_json, row.occurrence),
        )
        for row in report.valid_rows
        if row.body_json is not None
    ]


@contextmanager
def _stop_on_signals(submitter: Submitter) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: stop starting requests; a second Ctrl-C: abandon in-flight ones."""
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signal_number: int) -> None:
        received.append(signal_number)
        if len(received) == 1:
            submitter.request_stop(StopReason.INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)")
        else:
            submitter.force_stop()

    wanted = [signal.SIGINT, signal.SIGTERM]
    previous: dict[int, object] = {}
    for signal_number in wanted:
        try:
            loop.add_signal_handler(signal_number, on_signal, signal_number)
        except (NotImplementedError, RuntimeError, ValueError):
            # Windows has no add_signal_handler: a plain handler hands over to the loop thread.
            previous[signal_number] = signal.signal(
                signal_number,
                lambda number, _frame: loop.call_soon_threadsafe(on_signal, number),
            )
    try:
        yield
    finally:
        for signal_number in wanted:
            if signal_number in previous:
                signal.signal(signal_number, previous[signal_number])  # type: ignore[arg-type]
            elif sys.platform != "win32":
                loop.remove_signal_handler(signal_number)


async def _send(
    jobs: Sequence[Job], options: SubmitOptions, observers: Sequence[SubmitObserver]
) -> SubmitRun:
    settings = options.settings
    async with build_http_client(
        timeout=settings.timeout, concurrency=settings.concurrency, ca_bundle=options.ca_bundle
    ) as http:
        client = LacClient(http, options.base_url, options.api_key)
        submitter = Submitter(client, settings, observers)
        if not options.handle_signals:
            return await submitter.run(jobs)
        with _stop_on_signals(submitter):
            return await submitter.run(jobs)


def _exit_code(results: Sequence[RowResult], run: SubmitRun | None, dry_run: bool) -> ExitCode:
    ok = {Status.VALID} if dry_run else _OK_STATUSES
    codes = [ExitCode.OK if all(r.status in ok for r in results) else ExitCode.ROWS_NOT_OK]
    if run is not None and run.stop_reason is not None:
        codes.append(_STOP_EXIT_CODES[run.stop_reason])
    return most_severe(*codes)


def submit_sheet(
    sheet: RequestSheet,
    results_path: Path,
    options: SubmitOptions,
    observers_for: Callable[[int], Sequence[SubmitObserver]] = lambda total: (),
) -> SubmitOutcome:
    """Validate ``sheet``, send its valid rows, write the results file, decide the exit code.

    ``observers_for(number_of_jobs)`` gives the observers (progress display, ledger) of the run.
    """
    report = validate(sheet, allow_duplicates=options.allow_duplicates)
    by_row = {row.row_number: row.result() for row in report.rows}
    run: SubmitRun | None = None
    invalid = report.counts[Status.INVALID]
    if options.require_all_valid and invalid:
        for row in report.valid_rows:
            by_row[row.row_number] = RowResult(
                row.row_number,
                Status.NOT_SENT,
                error=f"not sent: --require-all-valid and {invalid} rows are invalid",
            )
    elif not options.dry_run:
        jobs = build_jobs(report, options.base_url, options.api_key.account_hash)
        run = asyncio.run(_send(jobs, options, observers_for(len(jobs))))
        by_row.update(run.results)
    results = [by_row[row_number] for row_number in sheet.table.row_numbers]
    written = write_results(results_path, sheet.table, results)
    return SubmitOutcome(report, results, written, _exit_code(results, run, options.dry_run), run)
