"""A retry pass: resend ledger records that ended ``failed`` because their attempts ran out.

``lac-batch run`` makes one after each pass over the inbox (records its own runs made);
``lac-batch retry`` makes one on demand (``submit`` records too). What may be retried is
decided in :mod:`lac_batch.ledger.worklist`; here each due record is resent with its own
Idempotency-Key to the base URL and account it was recorded with (never what is configured
now), with the key the configuration or keys file gives that account (a record whose key cannot
be found is left, and said so). Tries are 5 minutes apart, doubling, at most 2 hours; after
``retry_failed_for`` from the first attempt a record stays ``failed`` and is told once.

Each earlier run whose rows are retried gets a ledger run of its own (command ``retry``, that
run's file), holding only those rows; the pass writes one results file saying which input and
rows it retried, with their new statuses.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lac_batch.files.csv_writer import escaped_row
from lac_batch.files.inbox import unique_path
from lac_batch.files.results import SentTo
from lac_batch.jobs.submit import HeldLedger, SubmitOptions, held_ledger, send_jobs
from lac_batch.ledger.plan import sent_to_host
from lac_batch.ledger.recorder import LedgerRecorder
from lac_batch.ledger.store import RETRY_COMMAND, Ledger, RequestState, SendingMark
from lac_batch.ledger.worklist import RetryCandidate, retry_candidates
from lac_batch.model.exit_codes import ExitCode, most_severe
from lac_batch.model.status import RESULT_COLUMNS, RowResult, Status
from lac_batch.model.stopping import StopHandle
from lac_batch.model.wording import Option, option_name
from lac_batch.sending.credentials import ApiKey, check_key_destination
from lac_batch.sending.engine import Job, StopReason
from lac_batch.settings.ledger_url import LedgerUrl, ledger_location

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

RETRY_RESULTS_COLUMNS = ("file", *RESULT_COLUMNS, "idempotency_key", "first_sent_by")
_STOP_CODES = {
    StopReason.INTERRUPTED: ExitCode.INTERRUPTED,
    StopReason.AUTH_REFUSED: ExitCode.AUTH_REFUSED,
    StopReason.WRONG_BASE_URL: ExitCode.UNUSABLE,
    StopReason.RECORDING_FAILED: ExitCode.UNUSABLE,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """What "now" is for deciding which failed records are due and which have expired (UTC).

    The command line finds one in click's context object (``CliRunner.invoke(obj=Clock(...))``)
    and hands it down, so ``run`` and ``retry`` can be tested at a later moment as the library
    calls are, with nothing global."""

    now: Callable[[], datetime] = _utc_now


@dataclass(frozen=True)
class RetriedRow:
    """One record a retry pass resent, and its new status."""

    file_name: str
    file_path: str
    result: RowResult
    idempotency_key: str
    origin: str
    """The command that first sent it (``run`` or ``submit``)."""
    account: str
    base_url: str


@dataclass(frozen=True)
class LeftRecord:
    """A retryable record this pass did not take, and why (said to a person)."""

    file_name: str
    row_number: int
    idempotency_key: str
    account: str
    why: str


@dataclass
class RetryOutcome:
    retried: list[RetriedRow] = field(default_factory=list)
    expired: list[RetryCandidate] = field(default_factory=list)
    """Records whose retry window ended in this pass: they stay ``failed`` (told once: a later
    pass does not find them again)."""
    left: list[LeftRecord] = field(default_factory=list)
    waiting: int = 0
    """Retryable records not due yet."""
    next_due: datetime | None = None
    results_path: Path | None = None
    results_problem: str = ""
    stop_message: str = ""
    exit_code: ExitCode = ExitCode.OK

    @property
    def counts(self) -> Counter[Status]:
        return Counter(row.result.status for row in self.retried)

    @property
    def from_submit(self) -> list[RetriedRow]:
        """Records ``submit`` made (``lac-batch retry`` takes them; ``run`` never does)."""
        return [row for row in self.retried if row.origin == "submit"]

    @property
    def anything(self) -> bool:
        """Whether there is something to tell (rows resent, expired, or left)."""
        return bool(self.retried or self.expired or self.left)


def _key_for(options: SubmitOptions, account: str) -> ApiKey | None:
    """The key the configuration gives ``account`` (never stored in the ledger), or None."""
    if options.company_keys is not None:
        return options.keys_by_account.get(account)
    if account == options.account_name and options.api_key.reveal():
        return options.api_key
    return None


_GroupKey = tuple[str, str, str, str, str, str]
"""base URL, the run's account, the record's account, file name, file path, file hash."""


def _groups(due: Sequence[RetryCandidate]) -> dict[_GroupKey, list[RetryCandidate]]:
    groups: dict[_GroupKey, list[RetryCandidate]] = {}
    for record in due:
        # Within one group a row number stands for one request (results are by row); the
        # ledger's rules leave one per row, this is only a guard.
        key = (
            record.base_url,
            record.run_account,
            record.account,
            record.file_name,
            record.file_path,
            record.file_hash,
        )
        group = groups.setdefault(key, [])
        if all(other.row_number != record.row_number for other in group):
            group.append(record)
    return groups


def _results_text(rows: Sequence[RetriedRow]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(RETRY_RESULTS_COLUMNS)
    for row in rows:
        cells = [row.file_path or row.file_name, *(str(cell) for cell in row.result.cells())]
        writer.writerow(escaped_row([*cells, row.idempotency_key, row.origin]))
    return buffer.getvalue()


def write_retry_results(folder: Path, rows: Sequence[RetriedRow], at: datetime) -> Path:
    """``retry-YYYYmmddTHHMMSSZ.results.csv`` in ``folder`` (never over an existing file),
    written whole or not at all; OSError if it cannot be."""
    path = unique_path(folder / f"retry-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}.results.csv")
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("\ufeff" + _results_text(rows), encoding="utf-8", newline="")
    os.replace(partial, path)
    return path


def _send_group(
    ledger: Ledger,
    group: _GroupKey,
    records: Sequence[RetryCandidate],
    key: ApiKey,
    options: SubmitOptions,
    stop: StopHandle,
) -> tuple[int, list[tuple[RetryCandidate, RowResult]], ExitCode, str]:
    base_url, run_account, account, file_name, file_path, file_hash = group
    # A sandbox key never leaves this machine, whatever the ledger recorded.
    check_key_destination(base_url, [(account, key)])
    started = datetime.now(UTC).replace(microsecond=0)
    run_id = ledger.start_run(
        pid=os.getpid(),
        command=RETRY_COMMAND,
        file_path=Path(file_path or file_name),
        file_hash=file_hash,
        account=run_account,
        base_url=base_url,
        started_at=started,
    )
    marks = [
        SendingMark(
            fingerprint=record.idempotency_key,
            base_url=base_url,
            account=account,
            key_hash=key.account_hash,
            body_json=record.body_json,
            occurrence=record.occurrence,
            generation=record.generation,
            file_name=file_name,
            row_number=record.row_number,
            run_id=run_id,
            # Claimed only while still failed: a run anywhere that resent it since has it.
            earlier=RequestState.FAILED,
            origin=record.origin,
        )
        for record in records
    ]
    previous = {r.idempotency_key: ledger.record_state(r.idempotency_key) for r in records}
    recorder = LedgerRecorder(ledger, marks, previous)
    # Sent exactly as recorded: its base URL, its account's key, its own Idempotency-Key.
    group_options = replace(
        options, base_url=base_url, api_key=key, company_keys=None, account=account
    )
    jobs = [Job(r.row_number, r.body_json, r.idempotency_key) for r in records]
    run = asyncio.run(send_jobs(jobs, group_options, [], recorder, stop))
    sent_to = SentTo(SentTo.where_of(sent_to_host(base_url), account), started).text()
    results = [
        (record, replace(run.results[record.row_number], sent_to=sent_to)) for record in records
    ]
    codes = [
        ExitCode.OK
        if all(result.status is Status.ACCEPTED for _, result in results)
        else ExitCode.ROWS_NOT_OK
    ]
    if run.stop_reason is not None:
        codes.append(_STOP_CODES[run.stop_reason])
    if run.refused:
        codes.append(ExitCode.AUTH_REFUSED)
    return run_id, results, most_severe(*codes), run.stop_message


def retry_pass(
    ledger: Ledger,
    options: SubmitOptions,
    *,
    retry_failed_for: timedelta,
    origins: Sequence[str] = ("run",),
    results_folder: Path,
    now: Callable[[], datetime] | None = None,
    stop: StopHandle | None = None,
    keys: Collection[str] | None = None,
) -> RetryOutcome:
    """Resend every due retryable record of runs made by ``origins``, with the ledger already
    open and locked; write the pass's results file in ``results_folder`` when rows were resent.
    ``keys``: only the records with these Idempotency-Keys (a person resending one request).

    ``retry_failed_for`` zero: nothing is done. ``now`` (UTC) decides what is due and what has
    expired (tests give a clock of their own).
    """
    outcome = RetryOutcome()
    if retry_failed_for <= timedelta(0):
        return outcome
    stop = stop or StopHandle()
    moment = (now or _utc_now)()
    due: list[RetryCandidate] = []
    candidates = retry_candidates(ledger, origins)
    if ledger.shared:
        # A shared ledger holds other operators' records too: only the accounts whose run
        # locks this pass holds (those it has keys for) are its to retry, or to give up on.
        mine = set(options.accounts)
        candidates = [record for record in candidates if record.account in mine]
    for record in candidates:
        if keys is not None and record.idempotency_key not in keys:
            continue
        if record.window_start + retry_failed_for <= moment:
            outcome.expired.append(record)
        elif record.due_at() <= moment:
            due.append(record)
        else:
            outcome.waiting += 1
            at = record.due_at()
            outcome.next_due = at if outcome.next_due is None else min(outcome.next_due, at)
    if outcome.expired:
        ledger.end_retries([record.idempotency_key for record in outcome.expired], moment)
    codes = [ExitCode.OK]
    finished: list[tuple[int, list[tuple[RetryCandidate, RowResult]], ExitCode]] = []
    for group, records in _groups(due).items():
        key = _key_for(options, group[2])
        if key is None:
            outcome.left += [
                LeftRecord(
                    r.file_name,
                    r.row_number,
                    r.idempotency_key,
                    r.account,
                    f"no API key for account {r.account} in the configuration or keys file",
                )
                for r in records
            ]
            codes.append(ExitCode.ROWS_NOT_OK)
            continue
        if stop.is_set():
            break
        run_id, results, code, message = _send_group(ledger, group, records, key, options, stop)
        ledger.note_retried([(r.idempotency_key, r.failed_why) for r in records])
        finished.append((run_id, results, code))
        codes.append(code)
        outcome.stop_message = outcome.stop_message or message
        outcome.retried += [
            RetriedRow(
                r.file_name, r.file_path, result, r.idempotency_key, r.origin, r.account, r.base_url
            )
            for r, result in results
        ]
    if outcome.retried:
        try:
            outcome.results_path = write_retry_results(results_folder, outcome.retried, moment)
        except OSError as error:
            outcome.results_problem = (
                f"the retry pass's results file could not be written in {results_folder} "
                f"({error.strerror or error}); "
                f"`{option_name(Option.REBUILD_RESULTS, 'each input')}` shows each row's latest "
                "status from the ledger"
            )
            codes.append(ExitCode.RESULTS_NOT_WRITTEN)
    for run_id, results, code in finished:
        ledger.finish_run(
            run_id,
            [(record.idempotency_key, result) for record, result in results],
            results_path=outcome.results_path,
            exit_code=int(code),
        )
    if outcome.expired:
        codes.append(ExitCode.ROWS_NOT_OK)
    outcome.exit_code = most_severe(*codes)
    return outcome


def _held(
    ledger: Path | str | LedgerUrl | HeldLedger | None, options: SubmitOptions, stack: ExitStack
) -> HeldLedger:
    if isinstance(ledger, HeldLedger):
        return ledger
    # A PostgreSQL ledger: the locks of the accounts the options hold keys for (only theirs
    # are retried); a SQLite ledger's one lock.
    return stack.enter_context(
        held_ledger(ledger_location(ledger), command=RETRY_COMMAND, accounts=options.accounts)
    )


def retry_failed(
    options: SubmitOptions,
    *,
    ledger: Path | str | LedgerUrl | HeldLedger | None = None,
    retry_failed_for: timedelta = timedelta(hours=24),
    include_submit: bool = True,
    results_folder: Path | str | None = None,
    now: Callable[[], datetime] | None = None,
    stop: StopHandle | None = None,
    keys: Collection[str] | None = None,
) -> RetryOutcome:
    """One retry pass as a library call: hold the ledger's lock (RunLockedError, exit 4, if a
    run holds it), recover what a crashed run left, and resend the due records of ``run`` (and
    with ``include_submit`` of ``submit``) runs. ``options`` gives the keys (and the sending
    policy); each record goes to the base URL and account it was recorded with.

    ``keys``: only the records with these Idempotency-Keys (resend one request a person
    resolved as not processed), not every due one.

    The results file goes to ``results_folder``, by default beside the first retried run's
    results file (else the current folder).
    """
    origins = ("run", "submit") if include_submit else ("run",)
    with ExitStack() as stack:
        held = _held(ledger, options, stack)
        folder = Path(results_folder) if results_folder is not None else None
        if folder is None:
            folder = next(_results_folders(held.ledger, origins), Path.cwd())
        return retry_pass(
            held.ledger,
            options,
            retry_failed_for=retry_failed_for,
            origins=origins,
            results_folder=folder,
            now=now,
            stop=stop,
            keys=keys,
        )


def _results_folders(ledger: Ledger, origins: Sequence[str]) -> Iterator[Path]:
    for record in retry_candidates(ledger, origins):
        if record.results_path and Path(record.results_path).parent.is_dir():
            yield Path(record.results_path).parent
