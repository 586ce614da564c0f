"""The submit job as a library call: read → validate → send → results file → exit code.

:func:`submit_file` is what ``lac-batch submit`` runs; a Python caller can run it too. Every row
of the input ends with exactly one status in the results file, whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from lac_batch.files.results import ResultsWritten, SentTo, earlier_results, write_results
from lac_batch.ledger.plan import Action, PlannedRow, PlanReason, plan_rows, sent_to_host
from lac_batch.ledger.recorder import LedgerRecorder
from lac_batch.ledger.store import Ledger, SendingMark, file_digest
from lac_batch.model.errors import LedgerError, ResultsPathError
from lac_batch.model.exit_codes import ExitCode, most_severe
from lac_batch.model.status import RowResult, Status
from lac_batch.model.stopping import StopSignals, stop_signals
from lac_batch.model.wording import Option, option_name
from lac_batch.rows.validation import RequestSheet, RowVerdict, ValidationReport, validate
from lac_batch.sending.api import LacClient, build_http_client
from lac_batch.sending.credentials import ApiKey, normalise_base_url
from lac_batch.sending.engine import (
    Job,
    StopReason,
    SubmitObserver,
    SubmitRun,
    SubmitSettings,
    Submitter,
)
from lac_batch.settings.config import Settings
from lac_batch.settings.keys_file import CompanyKey, KeysFile

__all__ = [
    "LedgerUse",
    "SubmitOptions",
    "SubmitOutcome",
    "rows_exit_code",
    "submit_sheet",
]

_STOP_EXIT_CODES = {
    StopReason.INTERRUPTED: ExitCode.INTERRUPTED,
    StopReason.AUTH_REFUSED: ExitCode.AUTH_REFUSED,
    StopReason.WRONG_BASE_URL: ExitCode.UNUSABLE,
    StopReason.RECORDING_FAILED: ExitCode.UNUSABLE,
}
_OK_STATUSES = frozenset({Status.ACCEPTED, Status.SKIPPED})


@dataclass(frozen=True)
class SubmitOptions:
    base_url: str
    api_key: ApiKey
    settings: SubmitSettings = field(default_factory=lambda: Settings().submit_settings())
    allow_duplicates: bool = False
    dry_run: bool = False
    require_all_valid: bool = False
    ca_bundle: Path | None = None
    handle_signals: bool = False
    """Install Ctrl-C/SIGTERM handlers (the CLI does; a library caller may not want them)."""
    account: str | None = None
    """Names the company in fingerprints and the ledger; None: a hash of the API key."""
    company_keys: KeysFile | None = None
    """One key per customer_id (a keys file); then ``api_key`` and ``account`` are unused."""

    @property
    def account_name(self) -> str:
        """The account a run is recorded under (a keys file's runs, under the file's name)."""
        if self.company_keys is not None:
            return f"keys file {self.company_keys.path.name}"
        return self.account or self.api_key.account_hash

    def company_of(self, row: RowVerdict) -> CompanyKey:
        """The keys file entry that sends ``row`` (validation made sure there is one)."""
        assert self.company_keys is not None and row.body_json is not None
        customer_id = str(json.loads(row.body_json).get("customer_id", ""))
        return self.company_keys.by_customer[customer_id]

    def account_of(self, row: RowVerdict) -> str:
        return self.company_of(row).account if self.company_keys else self.account_name

    def key_hash_of(self, account: str) -> str:
        if self.company_keys is None:
            return self.api_key.account_hash
        return self.keys_by_account[account].account_hash

    @property
    def keys_by_account(self) -> dict[str, ApiKey]:
        """The key of every job's account ("" is the run's one key)."""
        if self.company_keys is None:
            return {"": self.api_key}
        return {entry.account: entry.key for entry in self.company_keys.by_customer.values()}


@dataclass(frozen=True)
class LedgerUse:
    """The ledger of a run (its lock already held and interrupted records recovered)."""

    ledger: Ledger
    force: bool = False
    resend_unknown: bool = False
    command: str = "submit"


@dataclass
class SubmitOutcome:
    report: ValidationReport
    results: list[RowResult]
    written: ResultsWritten | None
    """Where the results file went; None when it could not be written anywhere."""
    exit_code: ExitCode
    run: SubmitRun | None = None
    planned: list[PlannedRow] = field(default_factory=list)
    results_problem: str = ""
    """One paragraph when rows were sent but the results file is not where it was asked for
    (exit 5): where the results went, or how to rebuild them from the ledger."""

    @property
    def counts(self) -> Counter[Status]:
        return Counter(result.status for result in self.results)

    @property
    def accepted_elsewhere(self) -> int:
        """Rows sent although the same request was accepted under another account."""
        return sum(1 for row in self.planned if PlanReason.ACCEPTED_ELSEWHERE in row.reasons)

    @property
    def forced(self) -> int:
        return sum(1 for row in self.planned if PlanReason.FORCED in row.reasons)

    @property
    def untrusted_note(self) -> str:
        """Said once when rows' earlier results (a results file given as input) were not
        trusted, as they name another account or host, or none; "" when there were none."""
        ignored = [row.block_ignored for row in self.planned if row.block_ignored is not None]
        if not ignored:
            return ""
        where = ignored[0]
        said = f"say they were sent to {where}" if where else "do not say where they were sent"
        return (
            f"{len(ignored)} rows of the results file {said}, not where this run sends: their "
            "earlier results were not trusted, and the ledger decided what to send"
        )

    @property
    def changed_since_accepted(self) -> list[PlannedRow]:
        """Rows the results file said were accepted, not sent again though they changed."""
        return [row for row in self.planned if row.changed]


@contextmanager
def _stop_on_signals(submitter: Submitter, stop: StopSignals) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: stop starting requests; a second Ctrl-C: abandon in-flight ones."""
    loop = asyncio.get_running_loop()

    def on_signal(received: int) -> None:
        if received == 1:
            submitter.request_stop(StopReason.INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)")
        else:
            submitter.force_stop()

    # The handler runs between bytecodes of the main thread; the loop is told thread-safely,
    # which also wakes it from its wait for sockets.
    with stop.listening(lambda received: loop.call_soon_threadsafe(on_signal, received)):
        if stop.is_set():  # asked for before sending began: every row ends not_sent
            on_signal(stop.received)
        yield


async def _send(
    jobs: Sequence[Job],
    options: SubmitOptions,
    observers: Sequence[SubmitObserver],
    recorder: LedgerRecorder | None,
    stop: StopSignals,
) -> SubmitRun:
    settings = options.settings
    gates = [recorder] if recorder is not None else []
    async with build_http_client(
        timeout=settings.timeout, concurrency=settings.concurrency, ca_bundle=options.ca_bundle
    ) as http:
        client = LacClient(http, options.base_url, options.api_key)
        submitter = Submitter(
            client, settings, [*observers, *gates], gates=gates, keys=options.keys_by_account
        )
        with _stop_on_signals(submitter, stop):
            run = await submitter.run(jobs)
    if recorder is not None:
        try:
            await recorder.aclose()
        except LedgerError as error:
            run.stop_reason = run.stop_reason or StopReason.RECORDING_FAILED
            run.stop_message = run.stop_message or f"the ledger could not be written: {error}"
    return run


def rows_exit_code(results: Sequence[RowResult], dry_run: bool = False) -> ExitCode:
    """0 when every row is accepted or skipped (valid, for a dry run), else 1."""
    ok = {Status.VALID} if dry_run else _OK_STATUSES
    return ExitCode.OK if all(r.status in ok for r in results) else ExitCode.ROWS_NOT_OK


def _exit_code(results: Sequence[RowResult], run: SubmitRun | None, dry_run: bool) -> ExitCode:
    codes = [rows_exit_code(results, dry_run)]
    if run is not None and run.stop_reason is not None:
        codes.append(_STOP_EXIT_CODES[run.stop_reason])
    if run is not None and run.refused:
        # One company's refused key makes the run exit 3 even when the others went through.
        codes.append(ExitCode.AUTH_REFUSED)
    return most_severe(*codes)


def _rows_sent(run: SubmitRun | None) -> int:
    """Rows of this run whose request left at least once."""
    return 0 if run is None else sum(1 for result in run.results.values() if result.attempts)


def _results_problem(
    sent: int,
    written: ResultsWritten | None,
    unwritten: ResultsPathError | None,
    input_path: Path,
    ledger: LedgerUse | None,
) -> str:
    """The exit-5 paragraph: the rows were sent, where their results are or how to get them."""
    rebuild = f"`{option_name(Option.REBUILD_RESULTS, str(input_path))}` (with the same ledger)"
    if written is not None:
        text = (
            f"{sent} rows were sent, but their results file could not be written where asked: "
            f"{written.fallback_reason}. The results were written instead to {written.path}."
        )
        if ledger is not None:
            text += f" {rebuild} writes them again where you want them."
        return text
    text = f"{sent} rows were sent, but their results file could not be written: {unwritten}"
    if ledger is None:
        return f"{text} No ledger was in use: the statuses above are all that is left of them."
    return (
        f"{text} Nothing is lost: every row's outcome is in the ledger {ledger.ledger.path}. "
        f"Once there is room (free some space, or fix the folder's permissions), {rebuild} "
        "writes the results file; do not submit the file again to get them."
    )


def _with_note(result: RowResult, note: str) -> RowResult:
    if not note:
        return result
    error = f"{note}; {result.error}" if result.error else note
    return replace(result, error=error)


def _sending_marks(
    planned: Sequence[PlannedRow], options: SubmitOptions, file_name: str, run_id: int
) -> list[SendingMark]:
    """The ledger records of the requests to send, in the order the submitter takes them."""
    normalised = normalise_base_url(options.base_url)
    return [
        SendingMark(
            fingerprint=row.fingerprint,
            base_url=normalised,
            account=row.account,
            key_hash=options.key_hash_of(row.account),
            body_json=row.body_json,
            occurrence=row.occurrence,
            generation=row.generation,
            file_name=file_name,
            row_number=row.row_number,
            run_id=run_id,
        )
        for row in planned
        if row.action is Action.SEND
    ]


def submit_sheet(
    sheet: RequestSheet,
    results_path: Path,
    options: SubmitOptions,
    observers_for: Callable[[int], Sequence[SubmitObserver]] = lambda total: (),
    ledger: LedgerUse | None = None,
) -> SubmitOutcome:
    """Validate ``sheet``, send its valid rows, write the results file, decide the exit code.

    ``observers_for(number_of_jobs)`` gives the observers (e.g. the progress display). With a
    ``ledger``, rows it knows are skipped or held as its rules say, every attempt is committed as
    ``sending`` before it leaves, and the run is recorded with one line per input row.

    With ``options.handle_signals``, Ctrl-C or SIGTERM while validating or planning raises
    :class:`~lac_batch.model.errors.Interrupted` (nothing sent, recorded or written); once sending
    has begun it stops the sending and the results file says which rows were not sent.
    """
    signals = stop_signals() if options.handle_signals else nullcontext(StopSignals())
    with signals as stop:
        return _submit_sheet(sheet, results_path, options, observers_for, ledger, stop)


def _submit_sheet(
    sheet: RequestSheet,
    results_path: Path,
    options: SubmitOptions,
    observers_for: Callable[[int], Sequence[SubmitObserver]],
    ledger: LedgerUse | None,
    stop: StopSignals,
) -> SubmitOutcome:
    with stop.promptly():
        report = validate(
            sheet,
            allow_duplicates=options.allow_duplicates,
            customers_with_keys=(
                options.company_keys.customers if options.company_keys is not None else None
            ),
        )
        by_row = {row.row_number: row.result() for row in report.rows}
    run: SubmitRun | None = None
    planned: list[PlannedRow] = []
    invalid = report.counts[Status.INVALID]
    held_back = options.require_all_valid and invalid > 0
    if not options.dry_run and not held_back:
        with stop.promptly():
            earlier = earlier_results(sheet.table)
            planned = plan_rows(
                report,
                ledger.ledger if ledger is not None else None,
                base_url=options.base_url,
                account=options.account_of,
                force=ledger is not None and ledger.force,
                resend_unknown=ledger is not None and ledger.resend_unknown,
                blocks=(
                    dict(zip(sheet.table.row_numbers, earlier, strict=True))
                    if earlier is not None
                    else None
                ),
            )
    started = datetime.now(UTC).replace(microsecond=0)
    run_id: int | None = None
    if ledger is not None and not options.dry_run:
        # Recorded only now, so a stop while validating or planning leaves no trace.
        run_id = ledger.ledger.start_run(
            pid=os.getpid(),
            command=ledger.command,
            file_path=sheet.path.resolve(),
            file_hash=file_digest(sheet.path),
            account=options.account_name,
            base_url=normalise_base_url(options.base_url),
            started_at=started,
        )
    if held_back:
        for row in report.valid_rows:
            by_row[row.row_number] = RowResult.unsent(
                row.row_number,
                error=(
                    f"not sent: {option_name(Option.REQUIRE_ALL_VALID)} and {invalid} rows are "
                    "invalid"
                ),
            )
    elif not options.dry_run:
        # Job.account picks the key: "" (the run's one key) unless a keys file is in use.
        jobs = [
            Job(
                plan.row_number,
                plan.body_json,
                plan.fingerprint,
                plan.account if options.company_keys is not None else "",
            )
            for plan in planned
            if plan.action is Action.SEND
        ]
        recorder = None
        if ledger is not None and run_id is not None:
            marks = _sending_marks(planned, options, sheet.path.name, run_id)
            # What each record was before this run, to undo marks of requests that never left.
            previous = {
                plan.fingerprint: (
                    plan.earlier
                    if plan.earlier is not None and plan.earlier.fingerprint == plan.fingerprint
                    else None
                )
                for plan in planned
                if plan.action is Action.SEND
            }
            recorder = LedgerRecorder(
                ledger.ledger,
                marks,
                previous,
                lookahead=2 * options.settings.concurrency,
            )
        run = asyncio.run(_send(jobs, options, observers_for(len(jobs)), recorder, stop))
        host = sent_to_host(options.base_url)
        for plan in planned:
            result = run.results.get(plan.row_number) if plan.action is Action.SEND else None
            sent_to = SentTo(SentTo.where_of(host, plan.account), started).text()
            result = replace(result or plan.settled_result(), sent_to=sent_to)
            by_row[plan.row_number] = _with_note(result, plan.note)
    results = [by_row[row_number] for row_number in sheet.table.row_numbers]
    exit_code = _exit_code(results, run, options.dry_run)
    # Whatever happens to the results file, the run is finished in the ledger below, so that
    # `report --file` can always write its results again.
    written: ResultsWritten | None = None
    unwritten: ResultsPathError | None = None
    try:
        written = write_results(results_path, sheet.table, results)
    except ResultsPathError as error:
        unwritten = error
    sent = _rows_sent(run)
    problem = ""
    if sent and (written is None or written.in_fallback_folder):
        exit_code = most_severe(exit_code, ExitCode.RESULTS_NOT_WRITTEN)
        problem = _results_problem(sent, written, unwritten, sheet.path, ledger)
    if ledger is not None and run_id is not None:
        fingerprints = {plan.row_number: plan.fingerprint for plan in planned}
        ledger.ledger.finish_run(
            run_id,
            [(fingerprints.get(result.row_number, ""), result) for result in results],
            results_path=None if written is None else written.path,
            exit_code=int(exit_code),
        )
    if unwritten is not None and not sent:
        raise unwritten  # nothing was sent: a plain exit 2
    return SubmitOutcome(report, results, written, exit_code, run, planned, problem)
