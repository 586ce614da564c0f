"""Reading the ledger back: recent runs, a lost results file rebuilt, old records pruned."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from lac_batch.files.results import ResultsWritten, SentTo, write_results
from lac_batch.ledger.plan import sent_to_host
from lac_batch.ledger.store import Ledger, RunSummary, file_digest
from lac_batch.ledger.worklist import latest_results
from lac_batch.model.errors import NotInLedgerError, UsageError
from lac_batch.model.issues import RowIssue
from lac_batch.model.status import RowResult, Status
from lac_batch.model.wording import Option, option_name
from lac_batch.rows.validation import RequestSheet, validate
from lac_batch.settings.config import parse_duration

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

AGE_UNITS = "hdw"
"""An age of records to prune is read as any other duration, but only in hours, days or weeks:
``6m`` could be meant as six months, and pruning by minutes would forget nearly every request
(which is then sent again). A bare number is refused for the same reason."""


def parse_age(text: str) -> timedelta:
    """``90d`` → 90 days; hours (``h``), days (``d``) and weeks (``w``), ``1.5d`` too."""
    try:
        return parse_duration(text, AGE_UNITS)
    except ValueError:
        raise UsageError(f"'{text}' is not an age; write e.g. 90d, 12w or 36h.") from None


def _local(moment: str | None) -> str:
    if moment is None:
        return "did not finish"
    return datetime.fromisoformat(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_runs(runs: Sequence[RunSummary], *, running: Collection[int] = ()) -> list[str]:
    """One line per run, newest first. ``running``: the ids of runs going on now
    (:func:`~lac_batch.ledger.lock.runs_in_progress`)."""
    if not runs:
        return ["No runs recorded in this ledger yet."]
    lines = []
    for run in runs:
        if run.id in running:
            lines.append(
                f"run {run.id}: {_local(run.started_at)} → in progress, {run.done:,}/"
                f"{run.to_send:,} sent so far (pid {run.pid}, to {sent_to_host(run.base_url)}), "
                f"{run.command} {run.file_path}"
            )
            continue
        counts = ", ".join(f"{status} {count}" for status, count in sorted(run.counts.items()))
        exit_text = "" if run.exit_code is None else f", exit {run.exit_code}"
        lines.append(
            f"run {run.id}: {_local(run.started_at)} → {_local(run.ended_at)}, {run.command} "
            f"{run.file_path}: {counts or 'no rows recorded'}{exit_text}"
        )
    return lines


def rebuild_results(ledger: Ledger, sheet: RequestSheet, results_path: Path) -> ResultsWritten:
    """Write the results file of the newest finished run of ``sheet``'s file, from the ledger.

    The run is found by the file's content, else by its name; its rows must match the file's.
    """
    run = ledger.latest_finished_run(file_digest(sheet.path), sheet.path.name)
    if run is None:
        raise NotInLedgerError(
            f"{sheet.path}: the ledger {ledger.path} has no finished run of this file; "
            f"`{option_name(Option.LIST_RUNS)}` lists the runs it has."
        )
    return write_run_results(ledger, run, sheet, results_path)


def write_run_results(
    ledger: Ledger, run: RunSummary, sheet: RequestSheet, results_path: Path
) -> ResultsWritten:
    """Write the results of ``sheet``'s rows since ``run`` (:func:`results_of_run`) to
    ``results_path``, an .xlsx's invalid rows pointing at their cells as the run's own did."""
    results = results_of_run(ledger, run, sheet)
    return write_results(
        results_path, sheet.table, results, issues=_issues_found_again(sheet, results)
    )


def _issues_found_again(
    sheet: RequestSheet, results: Sequence[RowResult]
) -> dict[int, tuple[RowIssue, ...]]:
    """The issues of the rows the ledger holds as invalid, found again by validating the file,
    where they make exactly the error the ledger recorded: a verdict validation alone cannot
    repeat (a keys file's, a duplicate let through) keeps the ledger's words and no note."""
    report = validate(sheet)
    return {
        position: found
        for position, found in report.row_issues.items()
        if results[position].status is Status.INVALID
        and results[position].error == report.error_of(position)
    }


def results_of_run(ledger: Ledger, run: RunSummary, sheet: RequestSheet) -> list[RowResult]:
    """The latest result of every row of ``sheet`` since ``run``, as the ledger recorded them:
    the run's own, or what a later retry pass or a person's resolution made of the row.

    NotInLedgerError if the file's rows are not the run's (the file changed since).
    """
    results = ledger.run_rows(run.id)
    if [result.row_number for result in results] != sheet.table.row_numbers:
        raise NotInLedgerError(
            f"{sheet.path}: its rows no longer match run {run.id} of {run.file_path} (the file "
            "changed since); give the file as it was when it was submitted."
        )
    return latest_results(ledger, run.id, run.file_hash, _with_sent_to(ledger, run, results))


def _with_sent_to(ledger: Ledger, run: RunSummary, results: list[RowResult]) -> list[RowResult]:
    """The ``sent_to`` cells the run wrote: its host and start, each planned row's account."""
    planned = ledger.run_row_planned(run.id)
    accounts = ledger.run_row_accounts(run.id)
    host = sent_to_host(run.base_url)
    started = datetime.fromisoformat(run.started_at).replace(microsecond=0)
    return [
        replace(
            result,
            sent_to=SentTo(
                SentTo.where_of(host, accounts.get(result.row_number, run.account)), started
            ).text(),
        )
        if result.row_number in planned
        else result
        for result in results
    ]
