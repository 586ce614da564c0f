"""Where a ledger lives: a SQLite file, or a PostgreSQL database shared by several machines.

:class:`Connection` is the one thing :class:`~lac_batch.ledger.store.Ledger` talks to. Queries
are written once, with ``?`` placeholders and SQL both databases speak (``ON CONFLICT``,
``RETURNING``, ``CAST``); the connection turns placeholders into the driver's and keeps what
differs (schema version, transactions, run locks) in one place per dialect.

PostgreSQL is reached through psycopg 3, imported only when a ledger URL names it. A password
never comes from the URL (see :mod:`lac_batch.settings.ledger_url`).
"""

from __future__ import annotations

import hashlib
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lac_batch.model.errors import LedgerError
from lac_batch.settings.ledger_url import LedgerUrl

if TYPE_CHECKING:
    import psycopg

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_CONNECT_TIMEOUT_S = 15
_MIGRATION_LOCK = 0x1AC_BA7C4
"""The advisory lock that serialises migrations of one PostgreSQL ledger (held per transaction)."""


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


def account_lock_key(account: str) -> int:
    """The PostgreSQL advisory lock of one account: a signed 64-bit number from its name."""
    digest = hashlib.sha256(f"lac-batch account {account}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Connection(ABC):
    """One open ledger database, either dialect. Not thread-safe: one thread at a time."""

    dialect: Dialect
    location: str
    """What messages call the ledger: its path, or its URL without any secret."""

    @abstractmethod
    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Cursor: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """One statement for each of ``rows`` (inside the caller's transaction)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]: ...

    @abstractmethod
    def schema_version(self) -> int:
        """Set the session up, and read the schema version (0: a new ledger)."""

    @abstractmethod
    def read_schema_version(self) -> int:
        """The schema version, read again inside a migration's transaction."""

    @abstractmethod
    def set_schema_version(self, version: int) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def columns(self, table: str) -> list[str]:
        """The column names of ``table``, in their order."""

    @abstractmethod
    def tables(self) -> set[str]:
        """The names of the ledger's tables."""

    @abstractmethod
    def after_copied_ids(self, table: str) -> None:
        """Rows of ``table`` were inserted with their ids: new ids must come after them."""

    @abstractmethod
    def errors(self) -> AbstractContextManager[None]:
        """The one boundary where a driver failure becomes a LedgerError naming the ledger."""


class SqliteConnection(Connection):
    dialect = Dialect.SQLITE

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.location = str(path)
        self._db = connection

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Cursor:
        return self._db.execute(sql, parameters)

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._db.executemany(sql, rows)

    def after_copied_ids(self, table: str) -> None:
        # Nothing to do: SQLite gives a new row the largest rowid plus one.
        pass

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.errors():
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it returns, so `sending` survives a power cut too.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=10000")
        return self.read_schema_version()

    def read_schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self._db.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        self._db.close()

    def columns(self, table: str) -> list[str]:
        return [str(row[1]) for row in self._db.execute(f"PRAGMA table_info({table})")]

    def tables(self) -> set[str]:
        rows = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return {str(row[0]) for row in rows}

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise LedgerError(_explain_sqlite(self.path, error)) from error


def _explain_sqlite(path: Path, error: sqlite3.Error) -> str:
    from lac_batch.model.wording import Option, option_name

    text = str(error)
    if "not a database" in text or "malformed" in text:
        return (
            f"{path}: is not a lac-batch ledger (not a valid SQLite database). Move it aside "
            f"or point {option_name(Option.LEDGER)} / LAC_LEDGER at another file."
        )
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        # WAL mode writes a -wal file beside the ledger, so a read-only folder counts too.
        return (
            f"{path}: the ledger is read-only (the file or its folder cannot be written: "
            f"{text}); lac-batch must be able to write it. Fix the permissions or point "
            f"{option_name(Option.LEDGER)} / LAC_LEDGER elsewhere."
        )
    return f"{path}: the ledger cannot be used ({text})."


def _postgres_sql(sql: str) -> str:
    # psycopg's placeholder is %s, so a literal % must be doubled; no query here has a ? in text.
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresConnection(Connection):
    dialect = Dialect.POSTGRESQL

    def __init__(self, url: LedgerUrl, connection: psycopg.Connection[Any]) -> None:
        self.url = url
        self.location = url.masked
        self._db = connection

    @classmethod
    def connect(cls, url: LedgerUrl) -> PostgresConnection:
        try:
            import psycopg
        except ImportError:
            raise LedgerError(
                f"{url.masked}: a PostgreSQL ledger needs psycopg; install lac-batch with its "
                "postgresql extra (pip install 'lac-batch[postgresql]')."
            ) from None
        try:
            connection = psycopg.connect(
                url.conninfo(), autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S
            )
        except psycopg.Error as error:
            raise LedgerError(
                f"{url.masked}: the ledger database cannot be reached ({_pg_reason(error, url)})."
            ) from None
        return cls(url, connection)

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Cursor:
        if not parameters:
            # Without parameters psycopg reads no placeholders: a literal % stays single.
            return self._db.execute(sql)
        return self._db.execute(_postgres_sql(sql), tuple(parameters))

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            with self._db.cursor() as cursor:
                cursor.executemany(_postgres_sql(sql), [tuple(row) for row in rows])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.errors(), self._db.transaction():
            yield

    def schema_version(self) -> int:
        with self.transaction():
            return self.read_schema_version()

    def read_schema_version(self) -> int:
        # Two machines opening a new ledger at once: one migrates, the other waits, then sees.
        self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    def set_schema_version(self, version: int) -> None:
        self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        self._db.execute("DELETE FROM schema_version")
        self._db.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    def close(self) -> None:
        self._db.close()

    def columns(self, table: str) -> list[str]:
        rows = self._db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = current_schema() ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def tables(self) -> set[str]:
        rows = self._db.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        ).fetchall()
        return {str(row[0]) for row in rows}

    def after_copied_ids(self, table: str) -> None:
        self._db.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )

    @contextmanager
    def errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as error:
            raise LedgerError(
                f"{self.location}: the ledger cannot be used ({_pg_reason(error, self.url)})."
            ) from error

    def try_lock(self, key: int) -> bool:
        """Take a session advisory lock now or not at all (it dies with this connection)."""
        with self.errors():
            row = self._db.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        return bool(row and row[0])

    def unlock(self, key: int) -> None:
        with self.errors():
            self._db.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def lock_holder(self, key: int) -> tuple[int | None, datetime | None]:
        """The server process id (and its start, when visible) of the session holding ``key``."""
        high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        with self.errors():
            row = self._db.execute(
                "SELECT l.pid, a.backend_start FROM pg_locks l LEFT JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1",
                (high, low),
            ).fetchone()
        if row is None:
            return None, None
        return (int(row[0]) if row[0] is not None else None), row[1]


def _pg_reason(error: Exception, url: LedgerUrl) -> str:
    """The driver's reason, one line, with nothing of the URL's that it might repeat."""
    text = " ".join(str(error).split()) or type(error).__name__
    return url.scrub(text)


def connect(location: Path | LedgerUrl) -> Connection:
    """An open connection to the ledger at ``location`` (a SQLite file must exist already)."""
    if isinstance(location, LedgerUrl):
        return PostgresConnection.connect(location)
    try:
        # check_same_thread=False: the submitter writes from one worker thread at a time.
        connection = sqlite3.connect(location, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise LedgerError(_explain_sqlite(location, error)) from error
    return SqliteConnection(location, connection)
