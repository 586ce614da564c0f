"""Reading the ledger for rows that did not go through: the records left ``unknown`` (a worklist
for a person), the whole history of one request across runs, the ``failed`` records a retry pass
may resend, and the later outcomes a rebuilt results file shows on top of its run's.

Plain SQL over :class:`~lac_batch.ledger.store.Ledger.query`, so another ledger backend runs the
same statements. Every answer is a structured result; the command line renders it.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from lac_batch.ledger.store import (
    RETRY_COMMAND,
    RETRYABLE,
    FailedWhy,
    Ledger,
    RequestState,
    Resolution,
)
from lac_batch.model.errors import UsageError
from lac_batch.model.status import RowResult, Status

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

FIRST_RETRY_DELAY = timedelta(minutes=5)
LONGEST_RETRY_DELAY = timedelta(hours=2)


def retry_delay(retries: int) -> timedelta:
    """The wait before the next try of a record a retry pass took ``retries`` times already:
    5 minutes, doubling, at most 2 hours."""
    doubled: timedelta = FIRST_RETRY_DELAY * (1 << min(retries, 16))
    return min(doubled, LONGEST_RETRY_DELAY)


def who_am_i() -> str:
    """The OS user, for a resolution's record (getpass reads the environment first, then the
    password database, which a container may lack)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return os.environ.get("USERNAME") or os.environ.get("USER") or "unknown user"


def main_fields(body_json: str) -> dict[str, str]:
    """The body's top-level values (not ``metadata``): what a person searches the portal for."""
    try:
        body = json.loads(body_json)
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    return {str(key): str(value) for key, value in body.items() if not isinstance(value, dict)}


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class UnknownRequest:
    """One record left ``unknown``: it may have been processed; a person checks the portal."""

    file_name: str
    row_number: int
    when: str
    """When it was last sent (UTC, ISO 8601)."""
    why: str
    fields: dict[str, str]
    idempotency_key: str
    account: str
    base_url: str
    file_path: str
    """The input as its run recorded it ("" if that run is pruned)."""


def unknown_requests(
    ledger: Ledger, *, file_name: str | None = None, since: datetime | None = None
) -> list[UnknownRequest]:
    """Every record left ``unknown``, oldest first; only of inputs named ``file_name``, or last
    sent at or after ``since``, when given."""
    sql = (
        "SELECT r.file_name, r.row_number, r.last_at, r.error, r.body, r.fingerprint, r.account, "
        "r.base_url, COALESCE(runs.file_path, '') FROM requests r LEFT JOIN runs "
        "ON runs.id = r.run_id WHERE r.state = ?"
    )
    parameters: list[object] = [RequestState.UNKNOWN.value]
    if file_name is not None:
        sql += " AND r.file_name = ?"
        parameters.append(file_name)
    if since is not None:
        sql += " AND r.last_at >= ?"
        parameters.append(since.isoformat(timespec="microseconds"))
    rows = ledger.query(sql + " ORDER BY r.last_at, r.file_name, r.row_number", parameters)
    return [
        UnknownRequest(
            file_name=row[0],
            row_number=int(row[1]),
            when=row[2],
            why=row[3],
            fields=main_fields(row[4]),
            idempotency_key=row[5],
            account=row[6],
            base_url=row[7],
            file_path=row[8],
        )
        for row in rows
    ]


# --- resolving ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    idempotency_key: str
    file_name: str
    row_number: int
    resolution: Resolution
    earlier_state: str


def find_keys(ledger: Ledger, file_name: str, rows: Sequence[int]) -> dict[int, str]:
    """Row number → the Idempotency-Key of its request in the newest run of an input named
    ``file_name`` that planned it; UsageError naming the rows no run of that name sent."""
    found: dict[int, str] = {}
    for row_number in rows:
        keys = ledger.query(
            "SELECT rr.fingerprint FROM run_rows rr JOIN runs ON runs.id = rr.run_id "
            "WHERE runs.file_name = ? AND rr.row_number = ? AND rr.fingerprint != '' "
            "ORDER BY runs.id DESC LIMIT 1",
            (file_name, row_number),
        )
        if keys:
            found[row_number] = keys[0][0]
    missing = [str(row) for row in rows if row not in found]
    if missing:
        raise UsageError(
            f"{file_name}: the ledger has no request for row {', '.join(missing)} (no run of a "
            "file of this name sent it); `lac-batch unknowns` lists the records to resolve."
        )
    return found


def resolve_requests(
    ledger: Ledger,
    keys: Sequence[str],
    resolution: Resolution,
    *,
    event_id: str = "",
    note: str = "",
    resolved_by: str | None = None,
) -> list[Resolved]:
    """Settle each record of ``keys`` as a person found it in the portal, recording who, when
    and the note. All or none: UsageError (nothing changed) if a key is not in the ledger or
    its record is not ``unknown`` or ``failed`` (an accepted or rejected one is settled)."""
    who = resolved_by or who_am_i()
    records = {}
    for key in dict.fromkeys(keys):
        found = ledger.query(
            "SELECT state, file_name, row_number FROM requests WHERE fingerprint = ?", (key,)
        )
        if not found:
            raise UsageError(f"{key}: no request with this Idempotency-Key is in the ledger.")
        state, file_name, row_number = found[0]
        if state not in (RequestState.UNKNOWN.value, RequestState.FAILED.value):
            raise UsageError(
                f"{key} ({file_name} row {row_number}): is {state}, not unknown or failed; "
                "only a request whose outcome is open can be resolved. Nothing was changed."
            )
        records[key] = (file_name, int(row_number), state)
    done = []
    for key, (file_name, row_number, state) in records.items():
        if ledger.resolve(key, resolution, event_id=event_id, resolved_by=who, note=note):
            done.append(Resolved(key, file_name, row_number, resolution, state))
    return done


# --- history ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptEntry:
    """One request a run sent for the row, and its answer."""

    n: int
    """Its number among that run's attempts of the request."""
    at: str
    """When it left (UTC, ISO 8601)."""
    http_status: int | None
    """None: no answer came (``error`` says what happened instead)."""
    error: str


@dataclass(frozen=True)
class HistoryEntry:
    """What one run did with the request: each attempt in that run, and how it ended."""

    run_id: int
    command: str
    started_at: str
    ended_at: str | None
    file_name: str
    row_number: int
    idempotency_key: str
    status: str
    event_id: str
    http_status: int | None
    error: str
    attempts: int | None
    each_attempt: tuple[AttemptEntry, ...] = ()
    """Every attempt with its answer (empty for runs of a lac-batch that did not keep them:
    ``attempts`` and the last answer are all that is known of those)."""


@dataclass(frozen=True)
class ResolutionEntry:
    idempotency_key: str
    resolution: str
    event_id: str
    resolved_by: str
    resolved_at: str
    note: str
    earlier_state: str


@dataclass(frozen=True)
class RequestNow:
    """The request's record as it stands."""

    idempotency_key: str
    state: str
    failed_why: str
    event_id: str
    attempts: int
    first_at: str
    last_at: str
    retries: int
    retry_ended: str
    origin: str


@dataclass(frozen=True)
class RequestHistory:
    entries: list[HistoryEntry]
    """Every run that had the row (or request), oldest first."""
    resolutions: list[ResolutionEntry]
    records: list[RequestNow]

    @property
    def found(self) -> bool:
        return bool(self.entries or self.records)


_HISTORY = (
    "SELECT runs.id, runs.command, runs.started_at, runs.ended_at, runs.file_name, "
    "rr.row_number, rr.fingerprint, rr.status, rr.event_id, rr.http_status, rr.error, "
    "rr.attempts FROM run_rows rr JOIN runs ON runs.id = rr.run_id "
)


def _attempts_of(ledger: Ledger, run_id: int, key: str) -> tuple[AttemptEntry, ...]:
    if not key:
        return ()
    rows = ledger.query(
        "SELECT n, at, http_status, error FROM attempts WHERE run_id = ? AND fingerprint = ? "
        "ORDER BY n",
        (run_id, key),
    )
    return tuple(AttemptEntry(*row) for row in rows)


def request_history(
    ledger: Ledger,
    *,
    file_name: str | None = None,
    row_number: int | None = None,
    key: str | None = None,
) -> RequestHistory:
    """The history of one row of inputs named ``file_name`` (every run that had it, and every
    request it was sent as), or of the request ``key``."""
    if key is not None:
        rows = ledger.query(_HISTORY + "WHERE rr.fingerprint = ? ORDER BY runs.id", (key,))
    elif file_name is not None and row_number is not None:
        rows = ledger.query(
            _HISTORY + "WHERE runs.file_name = ? AND rr.row_number = ? ORDER BY runs.id",
            (file_name, row_number),
        )
    else:
        raise UsageError("give an Idempotency-Key, or an input file and a row number.")
    entries = [
        replace(entry, each_attempt=_attempts_of(ledger, entry.run_id, entry.idempotency_key))
        for entry in (HistoryEntry(*row) for row in rows)
    ]
    keys = list(dict.fromkeys([e.idempotency_key for e in entries if e.idempotency_key]))
    if key is not None and key not in keys:
        keys.append(key)
    records: list[RequestNow] = []
    resolutions: list[ResolutionEntry] = []
    for fingerprint in keys:
        records += [
            RequestNow(*row)
            for row in ledger.query(
                "SELECT fingerprint, state, failed_why, event_id, attempts, first_at, last_at, "
                "retries, retry_ended, origin FROM requests WHERE fingerprint = ?",
                (fingerprint,),
            )
        ]
        resolutions += [
            ResolutionEntry(*row)
            for row in ledger.query(
                "SELECT fingerprint, resolution, event_id, resolved_by, resolved_at, note, "
                "earlier_state FROM resolutions WHERE fingerprint = ? ORDER BY id",
                (fingerprint,),
            )
        ]
    return RequestHistory(entries, resolutions, records)


# --- later outcomes of a run's rows ---------------------------------------------------------


def latest_results(
    ledger: Ledger, run_id: int, file_hash: str, results: Sequence[RowResult]
) -> list[RowResult]:
    """``results`` of run ``run_id`` with what happened to their rows since: the rows later
    retry passes resent, and the requests a person resolved, the newest of each row winning."""
    later: list[tuple[str, int, RowResult]] = []
    for row in ledger.query(
        "SELECT runs.started_at, rr.row_number, rr.status, rr.event_id, rr.http_status, "
        "rr.error, rr.attempts FROM run_rows rr JOIN runs ON runs.id = rr.run_id "
        "WHERE runs.command = ? AND runs.file_hash = ? AND runs.id > ?",
        (RETRY_COMMAND, file_hash, run_id),
    ):
        result = RowResult(int(row[1]), Status(row[2]), row[3], row[4], row[5], row[6])
        later.append((row[0], int(row[1]), result))
    for when, row_number, resolution, event_id, who, note in ledger.query(
        "SELECT s.resolved_at, rr.row_number, s.resolution, s.event_id, s.resolved_by, s.note "
        "FROM run_rows rr JOIN resolutions s ON s.fingerprint = rr.fingerprint "
        "WHERE rr.run_id = ? AND rr.fingerprint != ''",
        (run_id,),
    ):
        said = f"resolved by {who} ({when[:10]})" + (f": {note}" if note else "")
        if resolution == Resolution.ACCEPTED.value:
            result = RowResult.accepted(
                row_number, event_id, http_status=None, attempts=0, error=f"accepted, {said}"
            )
        else:
            result = RowResult.failed(
                row_number,
                http_status=None,
                error=f"not processed, {said}; resent by the next pass",
                attempts=None,
            )
        later.append((when, row_number, result))
    newest: dict[int, RowResult] = {}
    for _, row_number, result in sorted(later, key=lambda item: item[0]):
        newest[row_number] = result
    return [
        replace(newest[result.row_number], sent_to=result.sent_to)
        if result.row_number in newest
        else result
        for result in results
    ]


# --- what a retry pass may resend -----------------------------------------------------------


@dataclass(frozen=True)
class RetryCandidate:
    """A ``failed`` record that every rule for retrying allows, due or not yet."""

    idempotency_key: str
    base_url: str
    account: str
    key_hash: str
    body_json: str
    occurrence: int
    generation: int
    file_name: str
    row_number: int
    first_at: str
    last_at: str
    retry_since: str
    retries: int
    origin: str
    failed_why: str
    file_path: str
    file_hash: str
    results_path: str
    run_account: str
    """The account its run was recorded under (a keys file's runs: the file's)."""

    @property
    def window_start(self) -> datetime:
        """When its retry window began: its first attempt, or the resolution that reopened it."""
        return _moment(self.retry_since or self.first_at)

    def due_at(self) -> datetime:
        """Not tried before this moment: a record a person just said was not processed is due
        at once; else the last try plus :func:`retry_delay`."""
        if self.failed_why == FailedWhy.NOT_PROCESSED.value and not self.retries:
            return _moment(self.last_at)
        return _moment(self.last_at) + retry_delay(self.retries)


_CANDIDATES = f"""
SELECT r.fingerprint, r.base_url, r.account, r.key_hash, r.body, r.occurrence, r.generation,
    r.file_name, r.row_number, r.first_at, r.last_at, r.retry_since, r.retries, r.origin,
    r.failed_why, COALESCE(runs.file_path, ''), COALESCE(runs.file_hash, ''),
    COALESCE(runs.results_path, ''), COALESCE(runs.account, r.account)
FROM requests r LEFT JOIN runs ON runs.id = r.run_id
WHERE r.state = '{RequestState.FAILED.value}' AND r.failed_why IN ({", ".join(f"'{why.value}'" for why in RETRYABLE)})
    AND r.retry_ended = ''
    AND NOT EXISTS (
        SELECT 1 FROM requests o WHERE o.base_url = r.base_url AND o.account = r.account
        AND o.body_hash = r.body_hash AND o.occurrence = r.occurrence
        AND o.fingerprint != r.fingerprint AND o.first_at > r.first_at)
    AND NOT EXISTS (
        SELECT 1 FROM run_rows rr JOIN runs l ON l.id = rr.run_id
        WHERE l.file_name = r.file_name AND rr.row_number = r.row_number
        AND l.command != '{RETRY_COMMAND}' AND l.id > COALESCE(r.run_id, 0)
        AND rr.fingerprint != '' AND rr.fingerprint != r.fingerprint)
    AND NOT EXISTS (
        SELECT 1 FROM runs k WHERE k.id = r.run_id AND k.exit_code = 3
        AND NOT EXISTS (
            SELECT 1 FROM runs a WHERE a.id > k.id AND a.base_url = k.base_url
            AND a.account = k.account AND a.counts LIKE '%"accepted"%'))
"""  # noqa: E501
"""Failed because attempts ran out (or resolved not processed), still in its window; not sent
since as another request for the same row or body (the operator fixed and resent it); and not
of a run whose key was refused, until a later run of that account had rows accepted."""


def retry_candidates(ledger: Ledger, origins: Sequence[str]) -> list[RetryCandidate]:
    """The records a retry pass may take, of runs made by one of ``origins`` (commands), in
    the order they were first sent."""
    wanted = list(origins)
    rows = ledger.query(
        _CANDIDATES + f" AND r.origin IN ({', '.join(['?'] * len(wanted))}) "
        "ORDER BY r.first_at, r.file_name, r.row_number",
        wanted,
    )
    return [RetryCandidate(*row) for row in rows]
