"""``lac-batch run``: one pass over the inbox, as a scheduler runs it every few minutes.

Each pass takes the ledger's lock, then submits every ready spreadsheet in the inbox, oldest
first: results go to ``results/``, the input to ``archive/`` with a timestamp; a file that cannot
be used at all (a problem whose scope is the file, whatever stage found it) goes to ``failed/``
with a ``.error.txt`` saying why, and the pass goes on. A pass that stops early (a refused key, an
interruption, a wrong base URL, a ledger failure) leaves the current and the remaining files in
the inbox for the next pass; the ledger skips what was already accepted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lac_batch.files.inbox import (
    Folders,
    archive_name,
    move_without_overwriting,
    ready_files,
    unique_path,
)
from lac_batch.files.reader import SUFFIX_FORMATS
from lac_batch.files.results import default_results_path
from lac_batch.jobs.progress import ProgressTally, duration_text
from lac_batch.jobs.retry import Clock, RetryOutcome, retry_pass
from lac_batch.jobs.run_log import RunLog
from lac_batch.jobs.submit import (
    HeldLedger,
    SubmitOptions,
    SubmitOutcome,
    SubmitProgress,
    held_ledger,
    rows_exit_code,
    submit_file,
)
from lac_batch.ledger.history import write_run_results
from lac_batch.ledger.store import (
    Ledger,
    RunSummary,
    ensure_ledger_folder,
    file_digest,
    new_ledger_notice,
    recovered_notice,
)
from lac_batch.model.errors import FileProblem, Interrupted, ResultsPathError, RunLockedError
from lac_batch.model.exit_codes import ExitCode, most_severe
from lac_batch.model.status import RowResult, Status
from lac_batch.model.stopping import StopHandle
from lac_batch.model.summary import format_counts
from lac_batch.model.wording import count_of
from lac_batch.rows.validation import read_requests
from lac_batch.sending.credentials import normalise_base_url
from lac_batch.sending.engine import Job
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@dataclass
class FileOutcome:
    source: Path
    exit_code: ExitCode
    line: str
    fields: dict[str, Any] = field(default_factory=dict)
    stopped_run: bool = False
    """The pass must not go on to the next file (key refused, interrupted, …)."""


@dataclass
class PassOutcome:
    exit_code: ExitCode
    files: list[FileOutcome] = field(default_factory=list)
    new_ledger: Path | LedgerUrl | None = None
    """This pass created the ledger file: no earlier runs were known."""
    retry: FileOutcome | None = None
    """What the pass's retry of failed rows did, when it had anything to tell."""


def _results_path(source: Path, folders: Folders) -> Path:
    file_format = SUFFIX_FORMATS[source.suffix.lower()]
    name = default_results_path(folders.results / source.name, file_format).name
    return unique_path(folders.results / name)


RUN_PROGRESS_EVERY_S = 30.0
"""How often an unattended run logs how far the file it sends has got."""


class _LoggedProgress(SubmitProgress):
    """Logs a progress line for the file being sent every ``every_s`` seconds (and none for a
    file sent faster): a long unattended run shows life in its log."""

    def __init__(self, log: RunLog, file_name: str, every_s: float) -> None:
        self._log = log
        self._file = file_name
        self._every = every_s
        self._tally: ProgressTally | None = None
        self._last = 0.0

    def sending(self, requests: int) -> None:
        self._tally = ProgressTally(requests)
        self._last = time.monotonic()

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        if self._tally is not None:
            self._tally.attempt_starting()

    def row_finished(self, job: Job, result: RowResult) -> None:
        if self._tally is None:
            return
        self._tally.row_finished(result)
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        snapshot = self._tally.snapshot()
        left = "" if snapshot.eta_s is None else f", about {duration_text(snapshot.eta_s)} left"
        self._log.info(
            "progress",
            f"{self._file}: {snapshot.done:,}/{snapshot.total:,} sent, "
            f"{format_counts(snapshot.counts)}, {snapshot.rate:.1f} req/s, elapsed "
            f"{duration_text(snapshot.elapsed_s)}{left}",
            file=self._file,
            **snapshot.fields(),
        )


def _move_to_failed(source: Path, folders: Folders, reason: str) -> Path:
    moved = move_without_overwriting(source, folders.failed / source.name)
    note = moved.with_name(moved.name + ".error.txt")
    note.write_text(
        f"{datetime.now().astimezone().isoformat(timespec='seconds')}\n"
        f"lac-batch cannot use {source.name}:\n\n{reason}\n\n"
        "Fix the file and put it back into the inbox.\n",
        encoding="utf-8",
    )
    return moved


def _process_file(
    source: Path,
    folders: Folders,
    options: SubmitOptions,
    held: HeldLedger,
    stop: StopHandle,
    reading: dict[str, Any],
    log: RunLog,
    progress_every_s: float,
) -> FileOutcome:
    ledger = held.ledger
    with stop.promptly():
        digest = file_digest(source)
        base_url = normalise_base_url(options.base_url)
        latest = ledger.latest_run_of_content(digest, options.account_name, base_url)
    if latest is not None and latest.exit_code == ExitCode.RESULTS_NOT_WRITTEN:
        rebuilt = _finish_unwritten_run(
            source, folders, ledger, latest, {"columns": options.columns, **reading}
        )
        if rebuilt is not None:
            return rebuilt
    earlier = ledger.completed_run_of_content(digest, options.account_name, base_url)
    if earlier is not None:
        moved = move_without_overwriting(source, archive_name(source, folders.archive))
        return FileOutcome(
            source,
            ExitCode.OK,
            f"{source.name}: same content as run {earlier.id} of {earlier.file_name} "
            f"({earlier.started_at[:19]}); not processed again (the ledger has its rows); "
            f"archived as {moved}",
            {"file": source.name, "already_processed_by_run": earlier.id, "archived": str(moved)},
        )
    if source.suffix.lower() not in SUFFIX_FORMATS:
        reason = f"{source}: is not a spreadsheet lac-batch reads ({', '.join(SUFFIX_FORMATS)})."
        return _unreadable(source, folders, reason)
    results_path = _results_path(source, folders)
    outcome = submit_file(
        source,
        replace(options, **reading),
        results=results_path,
        ledger=held,
        stop=stop,
        progress=_LoggedProgress(log, source.name, progress_every_s),
    )
    run = outcome.run
    fields: dict[str, Any] = {
        "file": source.name,
        "rows": len(outcome.results),
        "counts": {status.value: count for status, count in outcome.counts.items()},
        "results": "" if outcome.written is None else str(outcome.written.path),
        "exit_code": int(outcome.exit_code),
    }
    counts = format_counts(outcome.counts)
    rows = count_of(len(outcome.results), "row")
    if outcome.written is None:
        # The input is archived only once its results exist somewhere: the next pass writes
        # them from the ledger. The results folder is unusable, so this pass sends no more.
        fields["stopped"] = " ".join(
            filter(None, [outcome.results_problem, outcome.ledger_problem])
        )
        return FileOutcome(
            source,
            outcome.exit_code,
            f"{source.name}: {rows}: {counts}; {fields['stopped']} "
            "The file stays in the inbox: the next pass writes its results from the ledger "
            "and archives it.",
            fields,
            stopped_run=True,
        )
    if run is not None and (run.stop_reason is not None or run.refused):
        # A refused key (of one company or all) keeps the file in the inbox: once the key is
        # fixed, the next pass sends what was not sent, and the ledger skips the rest.
        fields["stopped"] = run.stop_message or "; ".join(run.refused.values())
        if outcome.ledger_problem is not None:
            fields["stopped"] += f"; {outcome.ledger_problem}"
        return FileOutcome(
            source,
            outcome.exit_code,
            f"{source.name}: {rows}: {counts}; stopped: {fields['stopped']}; "
            f"left in the inbox; results: {outcome.written.path}",
            fields,
            stopped_run=True,
        )
    moved = move_without_overwriting(source, archive_name(source, folders.archive))
    fields["archived"] = str(moved)
    problem = ""
    if outcome.written.in_fallback_folder:
        # The input is archived now, so the submit message's `report --file` hint would be stale.
        fields["results_problem"] = outcome.written.fallback_reason
        problem = (
            f" The results could not be written in {folders.results} "
            f"({outcome.written.fallback_reason}): they are in {outcome.written.path} instead."
        )
    if outcome.ledger_problem is not None:
        # The results exist, so the input is archived; a ledger that cannot be written ends
        # the pass, as it would stop the next file before sending.
        fields["stopped"] = outcome.ledger_problem
        problem += f" {outcome.ledger_problem}"
    return FileOutcome(
        source,
        outcome.exit_code,
        f"{source.name}: {rows}: {counts}{_block_note(outcome)}; results: "
        f"{outcome.written.path}; archived as {moved}{problem}",
        fields,
        stopped_run=outcome.ledger_problem is not None,
    )


def _finish_unwritten_run(
    source: Path, folders: Folders, ledger: Ledger, run: RunSummary, reading: dict[str, Any]
) -> FileOutcome | None:
    """Write the missing results of a run that sent the rows of ``source`` (exit 5), from the
    ledger, then archive the file. None: process the file as usual (the run stopped before its
    end, so this pass sends the rest; or the file cannot be matched to the run)."""
    results = ledger.run_rows(run.id)
    if any(result.status is Status.NOT_SENT for result in results):
        return None
    fields: dict[str, Any] = {"file": source.name, "rows": len(results), "rebuilt_from_run": run.id}
    code = rows_exit_code(results)
    results_path = Path(run.results_path) if run.results_path else None
    how = ""
    try:
        if results_path is None or not results_path.is_file():
            how = " (written from the ledger)"
            sheet = read_requests(source, **reading)
            written = write_run_results(ledger, run, sheet, _results_path(source, folders))
            results_path = written.path
            if written.in_fallback_folder:
                code = most_severe(code, ExitCode.RESULTS_NOT_WRITTEN)
                fields["results_problem"] = written.fallback_reason
    except ResultsPathError as error:
        fields["stopped"] = str(error)
        return FileOutcome(
            source,
            ExitCode.RESULTS_NOT_WRITTEN,
            f"{source.name}: the results of run {run.id} still cannot be written ({error}); "
            "the file stays in the inbox for the next pass.",
            fields,
            stopped_run=True,
        )
    except FileProblem:
        return None  # processed as usual, which tells what is wrong with the file
    moved = move_without_overwriting(source, archive_name(source, folders.archive))
    fields.update(results=str(results_path), archived=str(moved), exit_code=int(code))
    return FileOutcome(
        source,
        code,
        f"{source.name}: its rows were sent by run {run.id}, whose results file could not be "
        f"written where asked; results{how}: {results_path}; archived as {moved}",
        fields,
    )


def _interrupted(source: Path) -> FileOutcome:
    return FileOutcome(
        source,
        ExitCode.INTERRUPTED,
        f"{source.name}: interrupted (Ctrl-C or SIGTERM) before sending began; nothing of it was "
        "sent; left in the inbox",
        {"file": source.name, "stopped": "interrupted before sending began"},
        stopped_run=True,
    )


def _block_note(outcome: SubmitOutcome) -> str:
    """What a results file's block did, said once in the file's line (see lac_batch.ledger.plan)."""
    notes = []
    changed = len(outcome.changed_since_accepted)
    if changed:
        were = "was" if changed == 1 else "were"
        notes.append(
            f"{count_of(changed, 'row')} accepted earlier changed since and {were} not sent again"
        )
    if outcome.untrusted_note:
        notes.append(outcome.untrusted_note)
    return "".join(f"; {note}" for note in notes)


def _unreadable(source: Path, folders: Folders, reason: str) -> FileOutcome:
    moved = _move_to_failed(source, folders, reason)
    return FileOutcome(
        source,
        ExitCode.ROWS_NOT_OK,
        f"{source.name}: cannot be used; moved to {moved} ({reason})",
        {"file": source.name, "failed": str(moved), "error": reason},
    )


def run_pass(
    *,
    folders: Folders,
    options: SubmitOptions,
    ledger_path: Path | LedgerUrl,
    lock_warn_after_s: float,
    settle_seconds: float,
    log: RunLog,
    stop: StopHandle,
    reading: dict[str, Any] | None = None,
    on_file: Callable[[FileOutcome], None] | None = None,
    retry_failed_for: timedelta = timedelta(0),
    progress_every_s: float | None = None,
    clock: Clock | None = None,
) -> PassOutcome:
    """Process every ready file of the inbox once, then resend the due rows of earlier passes
    that failed because their attempts ran out, for ``retry_failed_for`` from their first
    attempt (zero: never; see :mod:`lac_batch.jobs.retry`), as of ``clock`` (default: the
    system's); never raises for a bad input file.

    While a file is sent, a progress line is logged every ``progress_every_s`` seconds
    (default :data:`RUN_PROGRESS_EVERY_S`).

    The ledger's folder must exist (LedgerError otherwise): it is never created here.
    """
    if isinstance(ledger_path, Path):
        ensure_ledger_folder(ledger_path, create=False)
    folders.create()
    with ExitStack() as stack:
        try:
            held = stack.enter_context(
                held_ledger(ledger_path, command="run", accounts=options.accounts)
            )
        except RunLockedError as error:
            return _locked(error, lock_warn_after_s, log)
        if held.created:
            log.warning("new_ledger", new_ledger_notice(ledger_path), ledger=str(ledger_path))
        every = RUN_PROGRESS_EVERY_S if progress_every_s is None else progress_every_s
        outcome = _pass(folders, options, held, settle_seconds, log, stop, reading, on_file, every)
        if not stop.is_set() and not any(file.stopped_run for file in outcome.files):
            retried = retry_pass(
                held.ledger,
                options,
                retry_failed_for=retry_failed_for,
                origins=("run",),
                results_folder=folders.results,
                now=(clock or Clock()).now,
                stop=stop,
            )
            if retried.anything:
                outcome.retry = _retry_file_outcome(retried, folders)
                (log.info if outcome.retry.exit_code is ExitCode.OK else log.warning)(
                    "retry", outcome.retry.line, **outcome.retry.fields
                )
                outcome.exit_code = most_severe(outcome.exit_code, outcome.retry.exit_code)
        outcome.new_ledger = ledger_path if held.created else None
        return outcome


def _retry_file_outcome(retried: RetryOutcome, folders: Folders) -> FileOutcome:
    """The retry part of a pass, told like a file: its log line, and its notification (rows
    still failed or unknown, and those whose retrying ended, which a later pass never finds
    again: told once)."""
    counts = {status.value: count for status, count in retried.counts.items()}
    if retried.expired:
        counts[Status.FAILED.value] = counts.get(Status.FAILED.value, 0) + len(retried.expired)
    inputs = sorted({row.file_name for row in retried.retried})
    parts = []
    if retried.retried:
        numbers = {
            name: [str(r.result.row_number) for r in retried.retried if r.file_name == name]
            for name in inputs
        }
        rows = ", ".join(
            f"{name} {'row' if len(found) == 1 else 'rows'} {', '.join(found)}"
            for name, found in numbers.items()
        )
        parts.append(
            f"{count_of(len(retried.retried), 'failed row')} retried ({rows}): "
            f"{format_counts(retried.counts)}"
        )
    if retried.expired:
        verb = "is" if len(retried.expired) == 1 else "are"
        parts.append(
            f"{count_of(len(retried.expired), 'failed row')} {verb} no longer retried "
            "(retry_failed_for is over; submit the file again to resend): "
            + ", ".join(f"{r.file_name} row {r.row_number}" for r in retried.expired)
        )
    if retried.left:
        parts.append("; ".join(f"{r.file_name} row {r.row_number}: {r.why}" for r in retried.left))
    if retried.results_path is not None:
        parts.append(f"results: {retried.results_path}")
    if retried.results_problem:
        parts.append(retried.results_problem)
    source = retried.results_path or folders.results / "retry"
    fields: dict[str, Any] = {
        "file": "retry pass",
        "retried": [
            {"file": r.file_name, "row": r.result.row_number, "status": r.result.status.value}
            for r in retried.retried
        ],
        "expired": [{"file": r.file_name, "row": r.row_number} for r in retried.expired],
        "counts": counts,
        "results": "" if retried.results_path is None else str(retried.results_path),
        "exit_code": int(retried.exit_code),
    }
    return FileOutcome(source, retried.exit_code, "retry pass: " + "; ".join(parts), fields)


def _locked(error: RunLockedError, lock_warn_after_s: float, log: RunLog) -> PassOutcome:
    holder = error.holder
    held_s = (
        (datetime.now(UTC) - holder.started_at).total_seconds()
        if holder.started_at is not None
        else 0.0
    )
    if held_s > lock_warn_after_s:
        log.error("lock_held_too_long", str(error), held_seconds=round(held_s), pid=holder.pid)
        return PassOutcome(ExitCode.LOCKED)
    log.info(
        "lock_held",
        f"another run is still busy ({holder.describe()}); nothing to do this time",
        quiet=True,
        pid=holder.pid,
    )
    return PassOutcome(ExitCode.OK)


def _pass(
    folders: Folders,
    options: SubmitOptions,
    held: HeldLedger,
    settle_seconds: float,
    log: RunLog,
    stop: StopHandle,
    reading: dict[str, Any] | None,
    on_file: Callable[[FileOutcome], None] | None,
    progress_every_s: float,
) -> PassOutcome:
    if held.recovered:
        log.warning(
            "recovered",
            recovered_notice(held.recovered),
            requests=held.recovered,
        )
    files, settling = ready_files(folders.inbox, settle_seconds)
    for path in settling:
        log.info("settling", f"{path.name}: still changing; left for the next run", quiet=True)
    if not files:
        log.info("idle", "nothing to do", quiet=True)
        return PassOutcome(ExitCode.OK)
    started = datetime.now(UTC)
    outcome = PassOutcome(ExitCode.OK)
    for source in files:
        if stop.is_set():
            break
        # A problem is told apart by its type, not by the stage that raised it: a problem of
        # the file (unreadable, missing columns, no customer_id column for a keys file) ends
        # this file only; any other ends the pass, leaving the file in the inbox.
        try:
            result = _process_file(
                source, folders, options, held, stop, reading or {}, log, progress_every_s
            )
        except Interrupted:
            result = _interrupted(source)
        except FileProblem as error:
            result = _unreadable(source, folders, str(error))
        outcome.files.append(result)
        (log.info if result.exit_code is ExitCode.OK else log.warning)(
            "file", result.line, **result.fields
        )
        if on_file is not None:
            on_file(result)
        if result.stopped_run:
            break
    codes = [result.exit_code for result in outcome.files]
    if stop.is_set():
        codes.append(ExitCode.INTERRUPTED)
    outcome.exit_code = most_severe(*codes)
    left = len(files) - len(outcome.files) + sum(1 for f in outcome.files if f.stopped_run)
    seconds = (datetime.now(UTC) - started).total_seconds()
    log.info(
        "run",
        f"run: {len(outcome.files)} of {count_of(len(files), 'file')} processed in {seconds:.1f} s"
        + (f", {left} left in the inbox" if left else "")
        + f"; exit {int(outcome.exit_code)}",
        files=len(outcome.files),
        left_in_inbox=left,
        seconds=round(seconds, 1),
        exit_code=int(outcome.exit_code),
    )
    return outcome
