"""The submit job as a library call: lock → ledger → read → validate → send → results → exit code.

:func:`submit_file` (and :func:`submit_file_async`, for a caller already running an event loop)
is what ``lac-batch submit`` and each file of an inbox pass run; a Python caller runs it too.
Every row of the input ends with exactly one status in the results file, whatever happens.

It raises (typed errors: :class:`~lac_batch.model.errors.LacBatchError` and its kin, or
:class:`~lac_batch.model.errors.Interrupted`) only before the first request leaves; from then on
everything that happens is in the :class:`SubmitOutcome`. It installs no signal handlers: a
caller stops it through a :class:`~lac_batch.model.stopping.StopHandle`, and hears what it does
through a :class:`SubmitProgress`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from lac_batch.files.reader import SUFFIX_FORMATS
from lac_batch.files.results import (
    ResultsWritten,
    SentTo,
    check_results_path,
    default_results_path,
    earlier_results,
    kept_results_path,
    write_results,
)
from lac_batch.ledger.backend import PostgresConnection
from lac_batch.ledger.lock import RunLock, account_locks
from lac_batch.ledger.plan import Action, PlannedRow, PlanReason, plan_rows, sent_to_host
from lac_batch.ledger.recorder import LedgerRecorder
from lac_batch.ledger.store import (
    Ledger,
    SendingMark,
    default_ledger_path,
    ensure_ledger_folder,
    file_digest,
)
from lac_batch.model.errors import LedgerError, ResultsPathError, UsageError
from lac_batch.model.exit_codes import ExitCode, most_severe
from lac_batch.model.mapping import (
    ColumnSetup,
    describe_record,
    mapping_from_record,
    mapping_record,
    reading_changes,
)
from lac_batch.model.status import RowResult, Status
from lac_batch.model.stopping import StopHandle
from lac_batch.model.wording import Option, count_of, option_name
from lac_batch.rows.validation import (
    RequestSheet,
    RowVerdict,
    ValidationReport,
    read_requests,
    validate,
)
from lac_batch.sending.api import LacClient, build_http_client
from lac_batch.sending.credentials import (
    PRODUCTION_BASE_URL,
    ApiKey,
    is_loopback,
    normalise_base_url,
)
from lac_batch.sending.engine import (
    Job,
    RetryNotice,
    StopReason,
    SubmitObserver,
    SubmitRun,
    SubmitSettings,
    Submitter,
)
from lac_batch.sending.pacing import most_in_flight
from lac_batch.settings.config import Settings
from lac_batch.settings.keys_file import CompanyKey, KeysFile
from lac_batch.settings.ledger_url import LedgerUrl, ledger_location

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

T = TypeVar("T")

_STOP_EXIT_CODES = {
    StopReason.INTERRUPTED: ExitCode.INTERRUPTED,
    StopReason.AUTH_REFUSED: ExitCode.AUTH_REFUSED,
    StopReason.WRONG_BASE_URL: ExitCode.UNUSABLE,
    StopReason.RECORDING_FAILED: ExitCode.UNUSABLE,
    StopReason.DECLINED: ExitCode.INTERRUPTED,
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
    force: bool = False
    """Send every valid row again, even those already accepted (a new Idempotency-Key)."""
    resend_unknown: bool = False
    """Resend rows left unknown by earlier runs, with the same Idempotency-Key."""
    sheet: str | None = None
    """The worksheet to read (None: the only one that fits)."""
    encoding: str | None = None
    """A CSV file's text encoding (None: detected)."""
    delimiter: str | None = None
    """A CSV file's delimiter (None: sniffed)."""
    strict: bool = False
    """Unknown columns make the file unusable."""
    columns: ColumnSetup | None = None
    """Mappings, profiles and the header row to read the file's headers with (None: the
    headers must be the known names). An unknown header that is a near miss of a known name
    is refused unless mapped or ignored on purpose."""
    remap: bool = False
    """Read the file even though an earlier run read it under another mapping; its rows are
    then new requests, as with ``force``."""
    ca_bundle: Path | None = None
    account: str | None = None
    """Names the company in fingerprints and the ledger; None: a hash of the API key."""
    company_keys: KeysFile | None = None
    """One key per customer_id (a keys file); then ``api_key`` and ``account`` are unused."""
    destination: str | None = None
    """What a results file's ``sent_to`` calls where this run sends (None: the base URL's host
    and port). The embedded sandbox is on a new port every run, so it is named once for all."""

    @property
    def sent_to_host(self) -> str:
        return self.destination or sent_to_host(self.base_url)

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
    def accounts(self) -> list[str]:
        """Every account this run may send for (whose run locks it takes), sorted."""
        if self.company_keys is None:
            return [self.account_name]
        return sorted({entry.account for entry in self.company_keys.by_customer.values()})

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
    command: str = "submit"
    """What the ledger records as the run's command."""


@dataclass(frozen=True)
class HeldLedger:
    """An open ledger whose run lock is held, after crash recovery (see :func:`held_ledger`)."""

    ledger: Ledger
    recovered: int
    """Records an interrupted earlier run left ``sending``, now ``unknown``."""
    command: str = "submit"
    """What the ledger records as the command of the runs made with it."""

    @property
    def path(self) -> Path | LedgerUrl:
        return self.ledger.path

    @property
    def created(self) -> bool:
        """This run created the ledger file: no earlier runs are known (it may be a mistake)."""
        return self.ledger.created


@contextmanager
def held_ledger(
    path: Path | str | LedgerUrl | None = None,
    *,
    command: str = "submit",
    accounts: Sequence[str] = (),
) -> Iterator[HeldLedger]:
    """Hold the run lock, open the ledger, and recover what a crashed run left.

    ``path``: a file's path or a ``postgresql://`` URL, as text or parsed. None: the default
    ledger (:func:`~lac_batch.ledger.store.default_ledger_path`),
    whose folder is created on first use; a named ledger's folder must exist (LedgerError).
    A PostgreSQL ledger (a :class:`LedgerUrl`) is locked per account: the locks of
    ``accounts``, and only their records left ``sending`` are recovered (another machine may
    be sending for another account right now).
    :class:`~lac_batch.ledger.lock.RunLockedError` (exit 4) when another run holds the lock.
    """
    path = ledger_location(path)
    if isinstance(path, LedgerUrl):
        ledger = Ledger.open(path)
        try:
            connection = ledger.connection
            assert isinstance(connection, PostgresConnection)
            with account_locks(connection, accounts):
                yield HeldLedger(ledger, ledger.recover_interrupted(list(accounts)), command)
        finally:
            ledger.close()
        return
    ledger_path = path or default_ledger_path()
    ensure_ledger_folder(ledger_path, create=path is None)
    with RunLock(ledger_path):
        ledger = Ledger.open(ledger_path)
        try:
            yield HeldLedger(ledger, ledger.recover_interrupted(), command)
        finally:
            ledger.close()


@dataclass(frozen=True)
class SendPlan:
    """What a run is about to send, told before the first request leaves (a front end says it,
    and may ask whether to go on)."""

    requests: int
    """Rows to send now."""
    already_accepted: int
    """Rows skipped: accepted in an earlier run."""
    held: int
    """Rows held back: left unknown by an earlier run."""
    invalid: int
    base_url: str
    rate: float
    """Requests started per second, at most."""

    @property
    def host(self) -> str:
        """Where the requests go: the base URL's host (and port)."""
        return urlsplit(self.base_url).netloc or self.base_url

    @property
    def production(self) -> bool:
        return normalise_base_url(self.base_url) == normalise_base_url(PRODUCTION_BASE_URL)

    @property
    def loopback(self) -> bool:
        """The requests stay on this machine (a sandbox)."""
        return is_loopback(urlsplit(self.base_url).hostname or "")

    @property
    def least_seconds(self) -> float:
        """How long sending takes at least, at the rate limit."""
        return self.requests / self.rate


class SubmitProgress:
    """Hears what :func:`submit_file` does, as it happens; every method does nothing here, so a
    caller overrides only what it wants to hear. Called in the thread that runs the job (the
    event loop's, for :func:`submit_file_async`); a method must not block for long."""

    def results_kept(self, asked: Path, instead: Path) -> None:
        """``asked`` records rows already sent, so it is kept; the results go to ``instead``."""

    def ledger_opened(self, ledger: HeldLedger) -> None:
        """The lock is held and the ledger open (``created``, ``recovered`` tell what it found)."""

    def file_warning(self, text: str) -> None:
        """Something about the input file a person should know (it is still used)."""

    def confirm(self, plan: SendPlan) -> bool:
        """The last word before the first request leaves: False sends nothing (every row to
        send ends ``not_sent``, exit 130). Told even when nothing would be asked."""
        return True

    def sending(self, requests: int) -> None:
        """Sending begins: ``requests`` rows are to be sent."""

    def retrying(self, notice: RetryNotice) -> None:
        """A request will be sent again (the server asked to wait, or it was not delivered)."""

    def stopping(self, in_flight: int, most_wait_s: float) -> None:
        """A stop was asked for while sending: no new request starts; ``in_flight`` requests
        are still awaited, each for at most ``most_wait_s``."""

    def abandoning(self, in_flight: int) -> None:
        """A second stop: the ``in_flight`` requests are abandoned (their rows end unknown)."""

    def sent(self, run: SubmitRun) -> None:
        """Sending is over (every request answered, given up on, or stopped)."""

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        """A request is about to leave (``attempt_number`` counts its resends)."""

    def row_finished(self, job: Job, result: RowResult) -> None:
        """A sent row has its final result."""


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
    recovered: int = 0
    """Records an interrupted earlier run had left ``sending``, found and made ``unknown`` when
    this run opened the ledger."""
    ledger_problem: str | None = None
    """One paragraph when rows were sent but the ledger could not record the end of the run
    (exit 5): where the rows' results are, and that the ledger cannot write them again."""

    @property
    def results_path(self) -> Path | None:
        """Where the results file was written; None when it could not be written anywhere."""
        return None if self.written is None else self.written.path

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
        one = len(ignored) == 1
        said = (
            f"{'says it was' if one else 'say they were'} sent to {where}"
            if where
            else f"{'does' if one else 'do'} not say where {'it was' if one else 'they were'} sent"
        )
        return (
            f"{count_of(len(ignored), 'row')} of the results file {said}, not where this run "
            f"sends: {'its' if one else 'their'} "
            "earlier results were not trusted, and the ledger decided what to send"
        )

    @property
    def changed_since_accepted(self) -> list[PlannedRow]:
        """Rows the results file said were accepted, not sent again though they changed."""
        return [row for row in self.planned if row.changed]


@contextmanager
def _stop_on_request(
    submitter: Submitter, stop: StopHandle, progress: SubmitProgress, most_wait_s: float
) -> Iterator[None]:
    """A stop (first Ctrl-C or SIGTERM): start no more requests; abandon (a second Ctrl-C):
    abandon the requests in flight too. ``progress`` hears each at once."""
    loop = asyncio.get_running_loop()

    def on_stop(level: int, tell: bool = True) -> None:
        if level == 1:
            submitter.request_stop(StopReason.INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)")
            if tell:
                progress.stopping(submitter.in_flight, most_wait_s)
        else:
            in_flight = submitter.in_flight
            submitter.force_stop()
            if tell:
                progress.abandoning(in_flight)

    # Asked for from a signal handler or another thread: the loop is told thread-safely, which
    # also wakes it from its wait for sockets.
    with stop.listening(lambda level: loop.call_soon_threadsafe(on_stop, level)):
        if stop.is_set():  # asked for before sending began: every row ends not_sent
            on_stop(stop.received, tell=False)
        yield


async def send_jobs(
    jobs: Sequence[Job],
    options: SubmitOptions,
    observers: Sequence[SubmitObserver],
    recorder: LedgerRecorder | None,
    stop: StopHandle,
    progress: SubmitProgress | None = None,
    declined: bool = False,
) -> SubmitRun:
    settings = options.settings
    gates = [recorder] if recorder is not None else []
    async with build_http_client(
        timeout=settings.timeout,
        concurrency=most_in_flight(settings.concurrency),
        ca_bundle=options.ca_bundle,
    ) as http:
        client = LacClient(http, options.base_url, options.api_key)
        submitter = Submitter(
            client, settings, [*observers, *gates], gates=gates, keys=options.keys_by_account
        )
        if recorder is not None:
            limit = submitter.in_flight_limit
            recorder.follow(lambda: 2 * limit.current)
        if declined:
            submitter.request_stop(
                StopReason.DECLINED, "the answer to the question before sending was no"
            )
        listener = progress or SubmitProgress()
        with _stop_on_request(submitter, stop, listener, settings.timeout):
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
    recorded: bool,
) -> str:
    """The exit-5 paragraph: the rows were sent, where their results are or how to get them
    (``recorded``: the ledger holds the finished run, so it can write them again)."""
    rebuild = f"`{option_name(Option.REBUILD_RESULTS, str(input_path))}` (with the same ledger)"
    if written is not None:
        text = (
            f"{_were_sent(sent)}, but their results file could not be written where asked: "
            f"{written.fallback_reason}. The results were written instead to {written.path}."
        )
        if ledger is not None and recorded:
            text += f" {rebuild} writes them again where you want them."
        return text
    text = f"{_were_sent(sent)}, but their results file could not be written: {unwritten}"
    if ledger is None:
        return f"{text} No ledger was in use: the statuses above are all that is left of them."
    if not recorded:
        return (
            f"{text} The ledger could not record the run either: the statuses above are all "
            "that is left of them."
        )
    return (
        f"{text} Nothing is lost: every row's outcome is in the ledger {ledger.ledger.path}. "
        f"Once there is room (free some space, or fix the folder's permissions), {rebuild} "
        "writes the results file; do not submit the file again to get them."
    )


def _were_sent(sent: int) -> str:
    return f"{count_of(sent, 'row')} {'was' if sent == 1 else 'were'} sent"


def _ledger_problem(sent: int, written: ResultsWritten | None, error: LedgerError) -> str:
    """The exit-5 paragraph when the ledger could not record the end of a run that sent rows."""
    text = f"{_were_sent(sent)}, but the ledger could not record the end of the run: {error}"
    if written is not None:
        text += (
            f" Every row's result is in {written.path}: keep it, the ledger cannot write it again."
        )
    return (
        f"{text} Each request was recorded before it left, so a rerun does not send it again "
        "unless asked. Make the ledger writable again (free some space, or fix its "
        "permissions) before the next run."
    )


def _with_note(result: RowResult, note: str) -> RowResult:
    if not note:
        return result
    error = f"{note}; {result.error}" if result.error else note
    return replace(result, error=error)


def _sending_marks(
    planned: Sequence[PlannedRow],
    options: SubmitOptions,
    file_name: str,
    run_id: int,
    origin: str,
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
            earlier=(
                row.earlier.state
                if row.earlier is not None and row.earlier.fingerprint == row.fingerprint
                else None
            ),
            origin=origin,
        )
        for row in planned
        if row.action is Action.SEND
    ]


def _send_plan(prepared: _Prepared, options: SubmitOptions) -> SendPlan:
    actions = Counter(plan.action for plan in prepared.planned)
    return SendPlan(
        requests=len(prepared.jobs or ()),
        already_accepted=actions[Action.SKIP],
        held=actions[Action.HOLD],
        invalid=prepared.report.counts[Status.INVALID],
        base_url=options.base_url,
        rate=options.settings.rate,
    )


@dataclass
class _Prepared:
    """A sheet validated and planned, its run started in the ledger: what sending needs."""

    report: ValidationReport
    by_row: dict[int, RowResult]
    planned: list[PlannedRow]
    started: datetime
    run_id: int | None = None
    jobs: list[Job] | None = None
    """The requests to send; None when nothing is sent (a dry run, or held back)."""
    recorder: LedgerRecorder | None = None


def _check_mapping(sheet: RequestSheet, reading: str, ledger: Ledger, remap: bool) -> bool:
    """Refuse a file whose rows the ledger holds under another reading of its headers (its
    requests would look new and be sent again); True when ``remap`` lets it through."""
    earlier = ledger.earlier_mapping(sheet.path.resolve(), file_digest(sheet.path))
    if earlier is None or not reading_changes(earlier.mapping, reading):
        return False
    if remap:
        return True
    raise UsageError(
        f"{sheet.path}: run {earlier.run_id} ({earlier.started_at[:19]}) read this file's "
        f"columns as {describe_record(earlier.mapping)}; now they read as "
        f"{describe_record(reading)}. Its requests would look new and be sent again, so nothing "
        f"was sent. Read it as before, or give {option_name(Option.REMAP)} to send its rows as "
        "new requests."
    )


def _prepare(
    sheet: RequestSheet, options: SubmitOptions, ledger: LedgerUse | None, stop: StopHandle
) -> _Prepared:
    """Validate and plan (abandoned by a stop: nothing changed), then start the ledger's run."""
    with stop.promptly():
        report = validate(
            sheet,
            allow_duplicates=options.allow_duplicates,
            customers_with_keys=(
                options.company_keys.customers if options.company_keys is not None else None
            ),
        )
        by_row = {row.row_number: row.result() for row in report.rows}
    planned: list[PlannedRow] = []
    invalid = report.counts[Status.INVALID]
    held_back = options.require_all_valid and invalid > 0
    reading = mapping_record(sheet.plan.readings, sheet.plan.header_row)
    remapped = False
    if ledger is not None and not options.dry_run:
        remapped = _check_mapping(sheet, reading, ledger.ledger, options.remap)
    if not options.dry_run and not held_back:
        with stop.promptly():
            earlier = earlier_results(sheet.table)
            planned = plan_rows(
                report,
                ledger.ledger if ledger is not None else None,
                base_url=options.base_url,
                destination=options.sent_to_host,
                account=options.account_of,
                force=ledger is not None and (options.force or remapped),
                resend_unknown=ledger is not None and options.resend_unknown,
                blocks=(
                    dict(zip(sheet.table.row_numbers, earlier, strict=True))
                    if earlier is not None
                    else None
                ),
            )
    prepared = _Prepared(report, by_row, planned, datetime.now(UTC).replace(microsecond=0))
    if ledger is not None and not options.dry_run:
        # Recorded only now, so a stop while validating or planning leaves no trace.
        prepared.run_id = ledger.ledger.start_run(
            pid=os.getpid(),
            command=ledger.command,
            file_path=sheet.path.resolve(),
            file_hash=file_digest(sheet.path),
            account=options.account_name,
            base_url=normalise_base_url(options.base_url),
            started_at=prepared.started,
            to_send=sum(1 for plan in planned if plan.action is Action.SEND),
            mapping=reading,
        )
    if held_back:
        for row in report.valid_rows:
            by_row[row.row_number] = RowResult.unsent(
                row.row_number,
                error=(
                    f"not sent: {option_name(Option.REQUIRE_ALL_VALID)} and "
                    f"{count_of(invalid, 'row')} {'is' if invalid == 1 else 'are'} invalid"
                ),
            )
    elif not options.dry_run:
        # Job.account picks the key: "" (the run's one key) unless a keys file is in use.
        prepared.jobs = [
            Job(
                plan.row_number,
                plan.body_json,
                plan.fingerprint,
                plan.account if options.company_keys is not None else "",
            )
            for plan in planned
            if plan.action is Action.SEND
        ]
        if ledger is not None and prepared.run_id is not None:
            marks = _sending_marks(
                planned, options, sheet.path.name, prepared.run_id, ledger.command
            )
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
            # Its lookahead follows the concurrency in use once sending starts (_send).
            prepared.recorder = LedgerRecorder(ledger.ledger, marks, previous)
    return prepared


def _settle(
    sheet: RequestSheet,
    prepared: _Prepared,
    run: SubmitRun | None,
    results_path: Path,
    options: SubmitOptions,
    ledger: LedgerUse | None,
) -> SubmitOutcome:
    """Every row's final result, the exit code, the results file, the run finished in the
    ledger. Raises only when nothing was sent; after that, a results file or a ledger that
    cannot be written is in the outcome (exit 5)."""
    by_row, planned = prepared.by_row, prepared.planned
    if run is not None:
        host = options.sent_to_host
        for plan in planned:
            result = run.results.get(plan.row_number) if plan.action is Action.SEND else None
            sent_to = SentTo(SentTo.where_of(host, plan.account), prepared.started).text()
            result = replace(result or plan.settled_result(), sent_to=sent_to)
            by_row[plan.row_number] = _with_note(result, plan.note)
    results = [by_row[row_number] for row_number in sheet.table.row_numbers]
    exit_code = _exit_code(results, run, options.dry_run)
    # Whatever happens to the results file, the run is finished in the ledger below, so that
    # `report --file` can always write its results again.
    written: ResultsWritten | None = None
    unwritten: ResultsPathError | None = None
    try:
        written = write_results(
            results_path, sheet.table, results, issues=prepared.report.row_issues
        )
    except ResultsPathError as error:
        unwritten = error
    sent = _rows_sent(run)
    results_missed = bool(sent) and (written is None or written.in_fallback_folder)
    if results_missed:
        exit_code = most_severe(exit_code, ExitCode.RESULTS_NOT_WRITTEN)
    ledger_problem: str | None = None
    if ledger is not None and prepared.run_id is not None:
        fingerprints = {plan.row_number: plan.fingerprint for plan in planned}
        try:
            ledger.ledger.finish_run(
                prepared.run_id,
                [(fingerprints.get(result.row_number, ""), result) for result in results],
                results_path=None if written is None else written.path,
                exit_code=int(exit_code),
            )
        except LedgerError as error:
            if not sent:
                raise  # nothing was sent: a plain exit 2
            # Once a request has left, everything is in the outcome: the rows were sent and
            # their record is incomplete, which is what exit 5 tells a scheduler.
            exit_code = most_severe(exit_code, ExitCode.RESULTS_NOT_WRITTEN)
            ledger_problem = _ledger_problem(sent, written, error)
    if unwritten is not None and not sent:
        raise unwritten  # nothing was sent: a plain exit 2
    problem = ""
    if results_missed:
        recorded = ledger_problem is None
        problem = _results_problem(sent, written, unwritten, sheet.path, ledger, recorded)
    return SubmitOutcome(
        prepared.report,
        results,
        written,
        exit_code,
        run,
        planned,
        problem,
        ledger_problem=ledger_problem,
    )


def submit_sheet(
    sheet: RequestSheet,
    results_path: Path,
    options: SubmitOptions,
    observers_for: Callable[[int], Sequence[SubmitObserver]] = lambda total: (),
    ledger: LedgerUse | None = None,
    stop: StopHandle | None = None,
) -> SubmitOutcome:
    """Validate a sheet already read, send its valid rows, write the results file, decide the
    exit code: the steps of :func:`submit_file` after the lock and the reading.

    ``observers_for(number_of_jobs)`` gives the observers. With a ``ledger``, rows it knows are
    skipped or held as its rules say, every attempt is committed as ``sending`` before it leaves,
    and the run is recorded with one line per input row.
    """
    stop = stop or StopHandle()
    prepared = _prepare(sheet, options, ledger, stop)
    run = None
    if prepared.jobs is not None:
        observers = observers_for(len(prepared.jobs))
        run = asyncio.run(send_jobs(prepared.jobs, options, observers, prepared.recorder, stop))
    return _settle(sheet, prepared, run, results_path, options, ledger)


def choose_results_path(input_path: Path, results: Path | None) -> tuple[Path, Path | None]:
    """The checked results path (``results``, or beside the input), and the path asked for when
    it is a results file that records sent rows, which is kept (else None)."""
    file_format = SUFFIX_FORMATS.get(input_path.suffix.lower())
    if results is None and file_format is not None:
        results = default_results_path(input_path, file_format)
    if results is None:
        # The input's extension is not one we read; reading it will say so.
        return input_path.with_name(f"{input_path.stem}.results.csv"), None
    kept = kept_results_path(results)
    check_results_path(kept, input_path)
    return kept, (results if kept != results else None)


def _with_remembered_mapping(options: SubmitOptions, ledger: Ledger, path: Path) -> SubmitOptions:
    """A results file fed back is read as the run that wrote it read its input (a CSV has no
    place to keep that; the ledger's record of the run does)."""
    try:
        found = ledger.mapping_of_results(path)
    except LedgerError:
        return options
    if found is None:
        return options
    columns = options.columns or ColumnSetup()
    origin = f"run {found.run_id}, which wrote this results file"
    return replace(
        options, columns=replace(columns, remembered=mapping_from_record(found.mapping, origin))
    )


def _read(path: Path, options: SubmitOptions, stop: StopHandle) -> RequestSheet:
    with stop.promptly():
        return read_requests(
            path,
            sheet=options.sheet,
            encoding=options.encoding,
            delimiter=options.delimiter,
            strict=options.strict,
            columns=options.columns,
            refuse_near_misses=True,
        )


class _StepRunner(Protocol):
    def __call__(self, step: Callable[[], T]) -> Awaitable[T]: ...


async def _submit_file(
    source: Path | str,
    options: SubmitOptions,
    asked: Path | str | None,
    ledger: Path | str | LedgerUrl | HeldLedger | None,
    listener: SubmitProgress | None,
    stop: StopHandle,
    run_step: _StepRunner,
) -> SubmitOutcome:
    """The job, once for both forms: ``run_step`` runs a blocking step (reading, validating,
    planning, writing) in place (the sync form) or in a worker thread (the async form)."""
    path = Path(source)
    results = None if asked is None else Path(asked)
    progress = listener or SubmitProgress()
    destination, kept = await run_step(lambda: choose_results_path(path, results))
    if kept is not None:
        progress.results_kept(kept, destination)
    with ExitStack() as stack:
        held: HeldLedger | None = None
        if isinstance(ledger, HeldLedger):
            held = ledger  # the caller holds its lock and has recovered it (an inbox pass)
        elif not options.dry_run:
            # On this thread: the run lock is released by the thread that took it.
            held = stack.enter_context(
                held_ledger(ledger_location(ledger), accounts=options.accounts)
            )
            progress.ledger_opened(held)
        use = None if held is None or options.dry_run else LedgerUse(held.ledger, held.command)
        if held is not None:
            options = _with_remembered_mapping(options, held.ledger, path)
        sheet = await run_step(lambda: _read(path, options, stop))
        for warning in sheet.warnings:
            progress.file_warning(warning)
        prepared = await run_step(lambda: _prepare(sheet, options, use, stop))
        run = None
        if prepared.jobs is not None:
            go = progress.confirm(_send_plan(prepared, options))
            progress.sending(len(prepared.jobs))
            run = await send_jobs(
                prepared.jobs,
                options,
                [progress],
                prepared.recorder,
                stop,
                progress,
                declined=not go,
            )
            progress.sent(run)
        outcome = await run_step(lambda: _settle(sheet, prepared, run, destination, options, use))
        if held is not None and held is not ledger:
            outcome.recovered = held.recovered
        return outcome


async def _in_place(step: Callable[[], T]) -> T:
    return step()


async def _in_thread(step: Callable[[], T]) -> T:
    return await asyncio.to_thread(step)


def submit_file(
    path: Path | str,
    options: SubmitOptions,
    *,
    results: Path | str | None = None,
    ledger: Path | str | LedgerUrl | HeldLedger | None = None,
    progress: SubmitProgress | None = None,
    stop: StopHandle | None = None,
) -> SubmitOutcome:
    """Submit the spreadsheet ``path``: validate every row, send the valid ones, write the
    results file; return every row's result and the exit code the command line would give.

    ``results``: where the results file goes (default ``<input>.results.<ext>`` beside it); a
    results file there that records sent rows is kept, and the results get the next free
    numbered name (``progress.results_kept``). ``ledger``: the SQLite ledger that keeps a
    request from being sent twice (default: the user's, as the command line's); its lock is
    held for the whole job, and records a crashed run left ``sending`` become ``unknown``
    (``SubmitOutcome.recovered``). A dry run (``options.dry_run``) opens no ledger.

    Raises :class:`~lac_batch.model.errors.LacBatchError` (input, results path, ledger, lock:
    each with its exit code) or :class:`~lac_batch.model.errors.Interrupted` (``stop`` set while
    reading, validating or planning) only before the first request leaves. ``stop.stop()``
    once sending has begun lets the requests in flight finish and leaves the rest ``not_sent``
    (exit 130); ``stop.abandon()`` abandons those in flight too (their rows end ``unknown``).

    Runs its own event loop: from inside a running one, await :func:`submit_file_async`.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise UsageError(
            "submit_file was called from a running event loop, which it would block; await "
            "submit_file_async there instead."
        )
    return asyncio.run(
        _submit_file(path, options, results, ledger, progress, stop or StopHandle(), _in_place)
    )


async def submit_file_async(
    path: Path | str,
    options: SubmitOptions,
    *,
    results: Path | str | None = None,
    ledger: Path | str | LedgerUrl | HeldLedger | None = None,
    progress: SubmitProgress | None = None,
    stop: StopHandle | None = None,
) -> SubmitOutcome:
    """:func:`submit_file` for a caller running an event loop (a web server, a worker).

    The requests are sent on the caller's loop; reading, validating, planning and writing the
    results run in worker threads, so the loop keeps serving meanwhile. ``progress`` is called
    on the loop's thread. Cancelling the task stops the job as ``stop.stop()`` does (a second
    cancel: ``stop.abandon()``), waits for it to record what happened, then re-raises.
    """
    stop = stop or StopHandle()
    job = asyncio.ensure_future(
        _submit_file(path, options, results, ledger, progress, stop, _in_thread)
    )
    cancelled = 0
    while True:
        try:
            outcome = await asyncio.shield(job)
        except asyncio.CancelledError:
            if job.done():
                raise
            cancelled += 1
            # The ledger and the results file must say what happened before the caller goes on.
            stop.abandon() if cancelled > 1 else stop.stop()
            continue
        except BaseException as error:
            if cancelled:  # stopped while reading or planning: the caller asked to cancel
                raise asyncio.CancelledError() from error
            raise
        if cancelled:
            raise asyncio.CancelledError()
        return outcome
