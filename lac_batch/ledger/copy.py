"""``lac-batch ledger copy SRC DST``: move a ledger to another place or backend.

Typically a SQLite file to a shared PostgreSQL database, when a team outgrows one machine.
Both ledgers are locked meanwhile (a SQLite file by its run lock; a PostgreSQL ledger by the
run locks of every account the source holds records of), so no run changes either. Every
table is copied whole (the destination must be empty), then read back from the destination
and compared with the source, row by row. Only then is the source marked as moved, naming the
destination: from then on every command against it is exit 2 saying where the ledger went, so
no machine keeps sending from the old one.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lac_batch.ledger.backend import Connection, PostgresConnection
from lac_batch.ledger.lock import RunLock, account_locks
from lac_batch.ledger.store import Ledger, ensure_ledger_folder, utc_now
from lac_batch.model.errors import LedgerError
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_FIRST = ("runs", "requests", "run_rows", "notify_problems")
"""Tables copied first, in this order (run_rows refers to runs); any other table follows."""
_NOT_COPIED = frozenset({"schema_version", "moved_to"})
"""Each ledger keeps its own schema version; the destination was not moved anywhere."""
_PARAMETERS_PER_STATEMENT = 900


@dataclass(frozen=True)
class CopyOutcome:
    source: str
    destination: str
    rows: dict[str, int]
    """Rows copied and verified, by table."""


def _accounts(ledger: Ledger) -> set[str]:
    return {str(row[0]) for row in ledger.query("SELECT DISTINCT account FROM requests")}


@contextmanager
def _held(location: Path | LedgerUrl, source: Ledger | None) -> Iterator[Ledger]:
    """Open and lock one ledger: a file by its run lock; a database by the locks of every
    account the source has records of (read again once locked, until no new one appears)."""
    with ExitStack() as stack:
        if isinstance(location, Path):
            ensure_ledger_folder(location, create=False)
            stack.enter_context(RunLock(location))
            ledger = Ledger.open(location)
            stack.callback(ledger.close)
            ledger.recover_interrupted()
            yield ledger
            return
        ledger = Ledger.open(location)
        stack.callback(ledger.close)
        connection = ledger.connection
        assert isinstance(connection, PostgresConnection)
        locked: set[str] = set()
        while True:
            wanted = _accounts(source or ledger) - locked
            if not wanted:
                break
            stack.enter_context(account_locks(connection, sorted(wanted)))
            locked |= wanted
        ledger.recover_interrupted(sorted(locked))
        yield ledger


@functools.cache
def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    values = ", ".join([f"({', '.join(['?'] * len(columns))})"] * rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}"


def _rows(db: Connection, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    return [
        tuple(row) for row in db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
    ]


def _tables(source: Connection, destination: Connection) -> list[str]:
    found = source.tables() - _NOT_COPIED
    missing = found - destination.tables()
    if missing:
        raise LedgerError(
            f"{destination.location}: has no table {', '.join(sorted(missing))} that the source "
            "has; upgrade lac-batch where the destination was made. Nothing was copied."
        )
    return [table for table in _FIRST if table in found] + sorted(found - set(_FIRST))


def copy_ledger(source: Path | LedgerUrl, destination: Path | LedgerUrl) -> CopyOutcome:
    """Copy every table of ``source`` into the empty ``destination``, verify every row, then
    mark ``source`` as moved. LedgerError (exit 2) if the destination is not empty or a row
    does not read back the same (then the source is not marked); RunLockedError (exit 4) while
    a run holds either."""
    if str(source) == str(destination):
        raise LedgerError(f"{source}: the source and the destination are the same ledger.")
    with _held(source, None) as src, _held(destination, src) as dst:
        src_db, dst_db = src.connection, dst.connection
        with src_db.errors(), dst_db.errors():
            tables = _tables(src_db, dst_db)
            for table in tables:
                (count,) = dst_db.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
                if count:
                    raise LedgerError(
                        f"{dst_db.location}: already holds {count} rows in {table}; a ledger is "
                        "copied only into an empty one. Nothing was copied."
                    )
            copied: dict[str, int] = {}
            with dst_db.transaction():
                for table in tables:
                    columns = src_db.columns(table)
                    rows = _rows(src_db, table, columns)
                    per_statement = max(1, _PARAMETERS_PER_STATEMENT // len(columns))
                    for start in range(0, len(rows), per_statement):
                        chunk = rows[start : start + per_statement]
                        dst_db.execute(
                            _insert_sql(table, tuple(columns), len(chunk)),
                            [value for row in chunk for value in row],
                        )
                    if "id" in columns:
                        dst_db.after_copied_ids(table)
                    copied[table] = len(rows)
            for table in tables:
                columns = src_db.columns(table)
                if Counter(_rows(src_db, table, columns)) != Counter(_rows(dst_db, table, columns)):
                    raise LedgerError(
                        f"{dst_db.location}: the copy of {table} does not read back as the "
                        f"source holds it; {src_db.location} was not marked as moved. Empty the "
                        "destination and copy again."
                    )
            with src_db.transaction():
                src_db.execute(
                    "INSERT INTO moved_to (destination, moved_at) VALUES (?, ?)",
                    (dst_db.location, utc_now()),
                )
        return CopyOutcome(src_db.location, dst_db.location, copied)
