"""The worklist of rows that did not go through, as library calls on a ledger (a file or a
PostgreSQL URL): what was left ``unknown``, a person's resolution of one, and the whole
history of one request.

Each opens the ledger at ``ledger`` (default: the user's, as the command line's) and returns
structured results (:mod:`lac_batch.ledger.worklist`); a web page or the command line renders
them. :func:`resolve` holds the run lock while it writes (RunLockedError, exit 4, meanwhile): a
SQLite ledger's, or on PostgreSQL the locks of the accounts it resolves requests of.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lac_batch.ledger.backend import PostgresConnection
from lac_batch.ledger.lock import RunLock, account_locks
from lac_batch.ledger.store import Ledger, Resolution, default_ledger_path
from lac_batch.ledger.worklist import (
    RequestHistory,
    ResolutionEntry,
    Resolved,
    UnknownRequest,
    find_keys,
    resolve_requests,
    unknown_requests,
)
from lac_batch.ledger.worklist import request_history as history_of
from lac_batch.model.errors import UsageError
from lac_batch.settings.ledger_url import LedgerUrl, ledger_location

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


def _location(ledger: Path | str | LedgerUrl | None) -> Path | LedgerUrl:
    return ledger_location(ledger) or default_ledger_path()


@contextmanager
def _opened(ledger: Path | str | LedgerUrl | None) -> Iterator[Ledger]:
    path = _location(ledger)
    if isinstance(path, Path) and not path.exists():
        raise UsageError(f"{path}: there is no ledger here yet (nothing was submitted with it).")
    opened = Ledger.open(path)
    try:
        yield opened
    finally:
        opened.close()


def unknowns(
    ledger: Path | str | LedgerUrl | None = None,
    *,
    file: Path | str | None = None,
    since: datetime | None = None,
) -> list[UnknownRequest]:
    """Every request left ``unknown`` (it may have been processed), oldest first: of inputs
    named like ``file`` only, or last sent at or after ``since`` (aware), when given."""
    with _opened(ledger) as opened:
        name = Path(file).name if file is not None else None
        return unknown_requests(opened, file_name=name, since=since)


def resolve(
    resolution: Resolution | str,
    *,
    keys: Sequence[str] = (),
    file: Path | str | None = None,
    rows: Sequence[int] = (),
    event_id: str = "",
    note: str = "",
    ledger: Path | str | LedgerUrl | None = None,
    resolved_by: str | None = None,
) -> list[Resolved]:
    """Settle requests left ``unknown`` as a person found them in the LAC portal: by
    Idempotency-Key (``keys``), or by ``rows`` of the input ``file`` (its newest run that sent
    them). ``accepted`` (with the portal's ``event_id``): later runs skip it.
    ``not_processed``: it becomes ``failed`` and the next pass (or a rerun) resends it with the
    same key. Recorded with ``resolved_by`` (default: the OS user), the time and ``note``.

    All or none: UsageError naming what is wrong, and nothing changed.
    """
    chosen = Resolution(resolution)
    if bool(keys) == (file is not None):
        raise UsageError("name the requests by Idempotency-Key, or by input file and rows.")
    if file is not None and not rows:
        raise UsageError(f"{file}: name the rows to resolve.")
    if event_id and chosen is not Resolution.ACCEPTED:
        raise UsageError("an event_id goes only with a request resolved as accepted.")
    path = _location(ledger)
    with ExitStack() as stack:
        if isinstance(path, Path):
            stack.enter_context(RunLock(path))
        opened = stack.enter_context(_opened(path))
        wanted = list(keys)
        if file is not None:
            wanted = list(find_keys(opened, Path(file).name, list(rows)).values())
        if isinstance(opened.connection, PostgresConnection):
            # A shared ledger: the run locks of the accounts whose requests are resolved.
            stack.enter_context(account_locks(opened.connection, opened.accounts_of(wanted)))
        return resolve_requests(
            opened, wanted, chosen, event_id=event_id, note=note, resolved_by=resolved_by
        )


def request_history(
    ledger: Path | str | LedgerUrl | None = None,
    *,
    file: Path | str | None = None,
    row: int | None = None,
    key: str | None = None,
) -> RequestHistory:
    """Did row ``row`` of ``file`` (or the request ``key``) go through? Every run that had it
    (attempts, last answer, status, event_id), its resolutions, and its record now."""
    with _opened(ledger) as opened:
        name = Path(file).name if file is not None else None
        return history_of(opened, file_name=name, row_number=row, key=key)


@dataclass(frozen=True)
class RecentResolution:
    """A person's resolution of a request, and where that request stands now."""

    resolution: ResolutionEntry
    file_name: str
    row_number: int
    state_now: str
    event_id_now: str


def recent_resolutions(
    ledger: Path | str | LedgerUrl | None = None, *, limit: int = 20
) -> list[RecentResolution]:
    """The latest resolutions recorded (newest first), each with its request's state now."""
    with _opened(ledger) as opened:
        rows = opened.query(
            "SELECT s.fingerprint, s.resolution, s.event_id, s.resolved_by, s.resolved_at, "
            "s.note, s.earlier_state, COALESCE(r.file_name, ''), COALESCE(r.row_number, 0), "
            "COALESCE(r.state, ''), COALESCE(r.event_id, '') FROM resolutions s "
            "LEFT JOIN requests r ON r.fingerprint = s.fingerprint ORDER BY s.id DESC LIMIT ?",
            (limit,),
        )
    return [
        RecentResolution(ResolutionEntry(*row[:7]), row[7], row[8], row[9], row[10]) for row in rows
    ]
