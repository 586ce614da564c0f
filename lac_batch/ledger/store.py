"""The ledger: every request ever sent, and every run with one line per input row, in a SQLite
file or a PostgreSQL database (see :mod:`lac_batch.ledger.backend`).

One record per request fingerprint (its ``Idempotency-Key``) holds its state:

    sending   committed before the request leaves; still there after a crash → unknown
    accepted  202, with its event_id
    rejected  the server refused it
    failed    surely not processed (not delivered, or refused key): safe to send again
    unknown   may have been processed

No API key is stored: only ``key_hash``, a short one-way hash to tell keys apart. The schema is
versioned (SQLite: ``PRAGMA user_version``; PostgreSQL: the ``schema_version`` table);
:data:`MIGRATIONS` brings any older ledger up to date, in either database.

A request is claimed for sending by the database itself, so that two runs anywhere never both
send it: a new record by inserting it (the fingerprint is unique: the second insert does
nothing), a resend by changing the state it was planned from (the second update finds no row).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, assert_never

import platformdirs

from lac_batch.files.modes import create_ledger_file, tighten_ledger_files
from lac_batch.ledger.backend import Connection, Dialect, connect
from lac_batch.model.errors import LedgerError
from lac_batch.model.status import RowResult, Status
from lac_batch.model.wording import Option, option_name
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


class RequestState(StrEnum):
    SENDING = "sending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"


def request_state_of(status: Status) -> RequestState | None:
    """The state a row's final status gives its request record, or None for a status that
    settles no request of this run (nothing was sent for it)."""
    match status:
        case Status.ACCEPTED:
            return RequestState.ACCEPTED
        case Status.REJECTED:
            return RequestState.REJECTED
        case Status.FAILED:
            return RequestState.FAILED
        case Status.UNKNOWN:
            return RequestState.UNKNOWN
        case Status.NOT_SENT:
            # After an attempt, the key was refused or the run stopped between retries: the
            # server did not process it.
            return RequestState.FAILED
        case Status.VALID | Status.INVALID | Status.SKIPPED:
            return None
        case _:
            assert_never(status)


_V1 = """
CREATE TABLE requests (
    fingerprint TEXT PRIMARY KEY,
    base_url TEXT NOT NULL,
    account TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    occurrence INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    state TEXT NOT NULL,
    event_id TEXT NOT NULL DEFAULT '',
    http_status INTEGER,
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    file_name TEXT NOT NULL,
    row_number INTEGER NOT NULL,
    run_id INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX requests_identity ON requests (base_url, account, body_hash, occurrence, generation);
CREATE INDEX requests_body ON requests (base_url, body_hash, state);
CREATE INDEX requests_last_at ON requests (last_at);
CREATE TABLE runs (
    id {run_id},
    started_at TEXT NOT NULL,
    ended_at TEXT,
    pid INTEGER NOT NULL,
    command TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_path TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    account TEXT NOT NULL,
    base_url TEXT NOT NULL,
    results_path TEXT NOT NULL DEFAULT '',
    counts TEXT NOT NULL DEFAULT '{}',
    exit_code INTEGER
);
CREATE INDEX runs_file ON runs (file_hash, ended_at);
CREATE TABLE run_rows (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    row_number INTEGER NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    event_id TEXT NOT NULL DEFAULT '',
    http_status INTEGER,
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER,
    PRIMARY KEY (run_id, row_number)
);
"""

# Version 2: problems that notifications were sent about, so a problem that repeats on every
# run is told once, and once more when it clears. Read and written by lac_batch.notify.state.
_V2 = """
CREATE TABLE notify_problems (
    kind TEXT PRIMARY KEY,
    since TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    notified_at TEXT,
    summary TEXT NOT NULL DEFAULT ''
);
"""

# A ledger copied elsewhere by `lac-batch ledger copy`: where it went (a path, or a URL without
# any secret), so that no machine keeps sending from the old one.
_V_MOVED = """
CREATE TABLE moved_to (
    destination TEXT NOT NULL,
    moved_at TEXT NOT NULL
);
"""

MIGRATIONS: dict[int, str] = {
    1: _V1.replace("{run_id}", "INTEGER PRIMARY KEY"),
    2: _V2,
    3: _V_MOVED,
}
"""Schema version → the SQL that brings version - 1 up to it, in SQL both databases speak."""
SCHEMA_VERSION = max(MIGRATIONS)

DIALECT_MIGRATIONS: dict[tuple[int, Dialect], str] = {
    (1, Dialect.POSTGRESQL): _V1.replace(
        "{run_id}", "INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    ),
}
"""A migration's variant for one database, where :data:`MIGRATIONS`' SQL is not portable."""


def migration_sql(version: int, dialect: Dialect) -> str:
    return DIALECT_MIGRATIONS.get((version, dialect), MIGRATIONS[version])


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def body_hash(body_json: str) -> str:
    return hashlib.sha256(body_json.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class RequestRecord:
    fingerprint: str
    state: RequestState
    generation: int
    event_id: str
    http_status: int | None
    error: str
    attempts: int
    first_at: str
    last_at: str
    account: str
    occurrence: int


@dataclass(frozen=True, slots=True)
class SendingMark:
    """What is committed as ``sending`` before one attempt of one request leaves."""

    fingerprint: str
    base_url: str
    account: str
    key_hash: str
    body_json: str
    occurrence: int
    generation: int
    file_name: str
    row_number: int
    run_id: int
    earlier: RequestState | None = None
    """The state of this very record the run was planned from (None: it has no record yet):
    the claim succeeds only if it is still that."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: int
    started_at: str
    ended_at: str | None
    pid: int
    command: str
    file_name: str
    file_path: str
    file_hash: str
    account: str
    base_url: str
    results_path: str
    counts: dict[str, int]
    exit_code: int | None


_T = TypeVar("_T")
_Settled = tuple[str, str, str, int | None, str, int]
"""An outcome as written: fingerprint, state, event_id, http_status, error, attempts."""

_RECORD_COLUMNS = (
    "fingerprint, state, generation, event_id, http_status, error, attempts, first_at, last_at, "
    "account, occurrence"
)
_RUN_COLUMNS = (
    "id, started_at, ended_at, pid, command, file_name, file_path, file_hash, account, base_url, "
    "results_path, counts, exit_code"
)


def _record(row: tuple[Any, ...]) -> RequestRecord:
    return RequestRecord(
        fingerprint=row[0],
        state=RequestState(row[1]),
        generation=row[2],
        event_id=row[3],
        http_status=row[4],
        error=row[5],
        attempts=row[6],
        first_at=row[7],
        last_at=row[8],
        account=row[9],
        occurrence=row[10],
    )


def _run(row: tuple[Any, ...]) -> RunSummary:
    counts = json.loads(row[11])
    names = [column.strip() for column in _RUN_COLUMNS.split(",")]
    fields = dict(zip(names, row, strict=True))
    fields["counts"] = {str(key): int(value) for key, value in counts.items()}
    return RunSummary(**fields)


# write_batch runs on a worker thread beside the event loop, and sqlite3 lets go of the GIL for
# every statement it steps: getting it back while the loop holds it can take a switch interval
# (5 ms). One statement per row (executemany) paid that wait per row, so the marks the workers
# were waiting for came late. One statement per chunk of rows pays it once. 64 rows of 13
# parameters stay under 999, the parameter limit of SQLite before 3.32.
_ROWS_PER_STATEMENT = 64


@functools.cache
def _claim_new_sql(rows: int) -> str:
    # A record that exists already (another run claimed it first) is left alone, and not
    # returned: that run sends it, this one does not.
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, 'sending', 0, ?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO requests (fingerprint, base_url, account, key_hash, body_hash, occurrence, "
        "generation, state, attempts, first_at, last_at, file_name, row_number, run_id, body) "
        f"VALUES {values} ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint"
    )


_CLAIM_AGAIN_SQL = (
    "UPDATE requests SET state = 'sending', last_at = ?, file_name = ?, row_number = ?, "
    "run_id = ?, key_hash = ? WHERE fingerprint = ? AND state = ?"
)
"""A resend (failed, or unknown with resend_unknown) claims its record only if it is still in
the state the run was planned from: a run that got there first changed it."""


@functools.cache
def _outcome_sql(rows: int) -> str:
    # A CTE and a correlated subquery rather than UPDATE ... FROM, which needs SQLite 3.33.
    # CASTs: PostgreSQL infers no column types from parameters in VALUES.
    values = ", ".join(
        [
            "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS INTEGER), "
            "CAST(? AS TEXT), CAST(? AS INTEGER))"
        ]
        * rows
    )
    return (
        f"WITH o (fingerprint, state, event_id, http_status, error, attempts) AS (VALUES {values}) "
        "UPDATE requests SET (state, event_id, http_status, error, last_at, attempts) = "
        "(SELECT o.state, o.event_id, o.http_status, o.error, ?, requests.attempts + o.attempts "
        "FROM o WHERE o.fingerprint = requests.fingerprint) "
        "WHERE fingerprint IN (SELECT fingerprint FROM o)"
    )


_DIGESTS_PER_QUERY = 500


def _chunks(items: Sequence[_T], size: int = _ROWS_PER_STATEMENT) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _distinct_chunks(rows: Sequence[_Settled]) -> Iterator[list[_Settled]]:
    """Chunks without a repeated fingerprint: one UPDATE applies only one row per record, and
    two outcomes of one record must both count (their attempts add up, the later state wins)."""
    chunk: list[_Settled] = []
    seen: set[str] = set()
    for row in rows:
        if row[0] in seen or len(chunk) == _ROWS_PER_STATEMENT:
            yield chunk
            chunk, seen = [], set()
        chunk.append(row)
        seen.add(row[0])
    if chunk:
        yield chunk


def default_ledger_path() -> Path:
    """``<user state dir>/lac-batch/ledger.sqlite3``: the ledger when no setting names one.

    ``--ledger``, ``LAC_LEDGER`` and the config file's ``ledger`` are resolved by
    :mod:`lac_batch.settings.config` like every other setting, before this default applies.
    """
    return platformdirs.user_state_path("lac-batch", appauthor=False) / "ledger.sqlite3"


def new_ledger_notice(path: Path | LedgerUrl) -> str:
    return f"new ledger at {path}; no earlier runs are known"


def ensure_ledger_folder(path: Path, *, create: bool) -> None:
    """Make sure the folder of the ledger ``path`` exists, or raise LedgerError (exit 2).

    ``create`` only for the default ledger in the user's state folder. A ledger that was named
    (flag, environment, config) is never given a folder: a missing one is most likely a share
    that is not mounted, and a new empty ledger there would forget every earlier run and send
    them all again.
    """
    folder = path.parent
    if folder.is_dir():
        return
    if not create:
        raise LedgerError(
            f"the ledger folder {folder} does not exist (is a share not mounted?), so the "
            f"ledger {path} cannot be opened; nothing was sent and nothing was created. Mount "
            f"or create the folder, or name another ledger with {option_name(Option.LEDGER)}, "
            "LAC_LEDGER or ledger in the config file."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LedgerError(
            f"the ledger folder {folder} cannot be created ({error.strerror or error}); "
            "nothing was sent. Name a ledger in a folder that can be written with "
            f"{option_name(Option.LEDGER)}, LAC_LEDGER or ledger in the config file."
        ) from None


class Ledger:
    """One open ledger (a SQLite file or a PostgreSQL database). Not thread-safe: use it from
    one thread at a time."""

    def __init__(self, location: Path | LedgerUrl, connection: Connection) -> None:
        self.location = location
        self._db = connection
        self.created = False
        """This open created the ledger: no earlier runs are known (say so: it may be a
        mistake)."""

    @property
    def path(self) -> Path | LedgerUrl:
        """Where the ledger is, as messages name it (a URL shows no secret)."""
        return self.location

    @property
    def connection(self) -> Connection:
        return self._db

    @classmethod
    def open(cls, location: Path | LedgerUrl) -> Ledger:
        """Open (create if needed) and migrate the ledger at ``location``; LedgerError if
        unusable.

        A SQLite ledger's folder is never created here (see :func:`ensure_ledger_folder`).
        """
        created = False
        if not isinstance(location, LedgerUrl):
            location = Path(location)
            ensure_ledger_folder(location, create=False)
            created = not location.exists()
            try:
                tighten_ledger_files(location)
                create_ledger_file(location)
            except OSError as error:
                raise LedgerError(f"{location}: the ledger cannot be opened ({error}).") from error
        connection = connect(location)
        ledger = cls(location, connection)
        try:
            created = ledger._prepare() or created
        except BaseException:
            connection.close()
            raise
        ledger.created = created
        return ledger

    def _prepare(self) -> bool:
        """Migrate; True when the ledger had no schema yet (a new one). LedgerError (exit 2)
        for a ledger that was moved elsewhere."""
        with self._db.errors():
            version = self._migrate()
            moved = self._db.execute("SELECT destination, moved_at FROM moved_to").fetchall()
        if moved:
            destination, moved_at = moved[0]
            raise LedgerError(
                f"{self._db.location}: this ledger was moved to {destination} on "
                f"{str(moved_at)[:10]} (lac-batch ledger copy); nothing was sent. Name the new "
                f"ledger with {option_name(Option.LEDGER)}, LAC_LEDGER or ledger in the config "
                "file."
            )
        # Take the write lock once now, so a read-only ledger fails before any work starts.
        with self._transaction():
            pass
        return version == 0

    def _migrate(self) -> int:
        db = self._db
        version = db.schema_version()
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{db.location}: the ledger has schema version {version}, newer than this "
                f"lac-batch ({SCHEMA_VERSION}); upgrade lac-batch"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with db.transaction():
                if db.read_schema_version() >= target:
                    continue  # another process migrated it meanwhile (PostgreSQL)
                for statement in migration_sql(target, db.dialect).split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.set_schema_version(target)
        return version

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """One write transaction; any database failure becomes a LedgerError naming it."""
        with self._db.transaction():
            yield self._db

    def query(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement run on its own (autocommit); failures are LedgerErrors."""
        with self._db.errors():
            return [tuple(row) for row in self._db.execute(sql, parameters).fetchall()]

    # --- requests -------------------------------------------------------------------------

    def recover_interrupted(self, accounts: Sequence[str] | None = None) -> int:
        """Records left ``sending`` by a run that died become ``unknown``; returns how many.

        ``accounts`` None: every record (the caller holds the whole ledger's lock, as for a
        SQLite file). Else only these accounts' records, whose run locks the caller holds:
        a run of another account may be sending right now, on another machine.
        """
        condition, chosen = "", list(accounts or [])
        if accounts is not None:
            if not chosen:
                return 0
            condition = f" AND account IN ({', '.join(['?'] * len(chosen))})"
        with self._transaction() as db:
            return db.execute(
                f"UPDATE requests SET state = ?, error = ?, last_at = ? WHERE state = ?{condition}",
                (
                    RequestState.UNKNOWN.value,
                    "a run stopped (crash, kill, power loss) while this request was being "
                    "sent; it may have been processed",
                    utc_now(),
                    RequestState.SENDING.value,
                    *chosen,
                ),
            ).rowcount

    def records_by_body(
        self, base_url: str, body_digests: Iterable[str]
    ) -> dict[str, list[RequestRecord]]:
        """Every record at ``base_url`` of these bodies (any account, occurrence, generation),
        by body hash: what planning a run needs to know of all its rows, in a few queries."""
        wanted = list(dict.fromkeys(body_digests))
        found: dict[str, list[RequestRecord]] = {}
        for chunk in _chunks(wanted, _DIGESTS_PER_QUERY):
            rows = self.query(
                f"SELECT body_hash, {_RECORD_COLUMNS} FROM requests WHERE base_url = ? "
                f"AND body_hash IN ({', '.join(['?'] * len(chunk))})",
                [base_url, *chunk],
            )
            for row in rows:
                found.setdefault(row[0], []).append(_record(row[1:]))
        return found

    def bodies_by_event_id(self, base_url: str, event_ids: Iterable[str]) -> dict[str, str]:
        """The body JSON of each accepted request at ``base_url`` with one of these event_ids.

        One query per 500 ids (event_id has no index; this is asked only for rows changed
        since accepted).
        """
        wanted = sorted({event_id for event_id in event_ids if event_id})
        found: dict[str, str] = {}
        for chunk in _chunks(wanted, _DIGESTS_PER_QUERY):
            rows = self.query(
                "SELECT event_id, body FROM requests WHERE base_url = ? AND state = ? "
                f"AND event_id IN ({', '.join(['?'] * len(chunk))})",
                (base_url, RequestState.ACCEPTED.value, *chunk),
            )
            found.update({event_id: body for event_id, body in rows})
        return found

    def record_state(self, fingerprint: str) -> RequestRecord | None:
        found = self.query(
            f"SELECT {_RECORD_COLUMNS} FROM requests WHERE fingerprint = ?", (fingerprint,)
        )
        return _record(found[0]) if found else None

    def write_batch(
        self, marks: Sequence[SendingMark], outcomes: Sequence[tuple[str, RowResult]]
    ) -> set[str]:
        """In one transaction: claim requests (``sending``) and settle finished ones.

        Returns the fingerprints of ``marks`` this run did not get: another run claimed them
        first (anywhere), so this one must not send them. A claim leaves ``attempts`` alone; an
        outcome adds the attempts its run made.
        """
        now = utc_now()
        settled = [
            (
                fingerprint,
                state.value,
                result.event_id,
                result.http_status,
                result.error,
                result.attempts or 0,
            )
            for fingerprint, result in outcomes
            if (state := request_state_of(result.status)) is not None
        ]
        new = [mark for mark in marks if mark.earlier is None]
        again = [mark for mark in marks if mark.earlier is not None]
        claimed: set[str] = set()
        with self._transaction() as db:
            for chunk in _chunks(new):
                rows = db.execute(
                    _claim_new_sql(len(chunk)),
                    [
                        value
                        for mark in chunk
                        for value in (
                            mark.fingerprint,
                            mark.base_url,
                            mark.account,
                            mark.key_hash,
                            body_hash(mark.body_json),
                            mark.occurrence,
                            mark.generation,
                            now,
                            now,
                            mark.file_name,
                            mark.row_number,
                            mark.run_id,
                            mark.body_json,
                        )
                    ],
                ).fetchall()
                claimed.update(str(row[0]) for row in rows)
            for mark in again:
                assert mark.earlier is not None
                cursor = db.execute(
                    _CLAIM_AGAIN_SQL,
                    (
                        now,
                        mark.file_name,
                        mark.row_number,
                        mark.run_id,
                        mark.key_hash,
                        mark.fingerprint,
                        mark.earlier.value,
                    ),
                )
                if cursor.rowcount == 1:
                    claimed.add(mark.fingerprint)
            for rows in _distinct_chunks(settled):
                db.execute(
                    _outcome_sql(len(rows)), [value for row in rows for value in row] + [now]
                )
        return {mark.fingerprint for mark in marks} - claimed

    def unmark(self, run_id: int, restores: Sequence[tuple[str, RequestRecord | None]]) -> None:
        """Undo ``sending`` claims of run ``run_id`` whose requests never left: back to what
        they were before (a record another run claimed since is not this run's to undo)."""
        with self._transaction() as db:
            for fingerprint, earlier in restores:
                if earlier is None:
                    db.execute(
                        "DELETE FROM requests WHERE fingerprint = ? AND state = 'sending' "
                        "AND run_id = ?",
                        (fingerprint, run_id),
                    )
                    continue
                db.execute(
                    "UPDATE requests SET state = ?, event_id = ?, http_status = ?, error = ?, "
                    "last_at = ? WHERE fingerprint = ? AND state = 'sending' AND run_id = ?",
                    (
                        earlier.state.value,
                        earlier.event_id,
                        earlier.http_status,
                        earlier.error,
                        earlier.last_at,
                        fingerprint,
                        run_id,
                    ),
                )

    # --- runs -----------------------------------------------------------------------------

    def start_run(
        self,
        *,
        pid: int,
        command: str,
        file_path: Path,
        file_hash: str,
        account: str,
        base_url: str,
        started_at: datetime | None = None,
    ) -> int:
        """Record a run's start (``started_at``: now unless given); returns the run's id."""
        started = utc_now() if started_at is None else started_at.isoformat(timespec="microseconds")
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (started_at, pid, command, file_name, file_path, file_hash, "
                "account, base_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    started,
                    pid,
                    command,
                    file_path.name,
                    str(file_path),
                    file_hash,
                    account,
                    base_url,
                ),
            )
            (run_id,) = cursor.fetchall()[0]
        return int(run_id)

    def finish_run(
        self,
        run_id: int,
        rows: Sequence[tuple[str, RowResult]],
        *,
        results_path: Path | None,
        exit_code: int,
    ) -> None:
        """Store one line per input row (fingerprint or '', result) and close the run.

        ``results_path`` None: the results file could not be written (stored as '').
        """
        counts: dict[str, int] = {}
        for _, result in rows:
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
        with self._transaction() as db:
            for values in [
                (
                    run_id,
                    result.row_number,
                    fingerprint,
                    result.status.value,
                    result.event_id,
                    result.http_status,
                    result.error,
                    result.attempts,
                )
                for fingerprint, result in rows
            ]:
                db.execute(
                    "INSERT INTO run_rows (run_id, row_number, fingerprint, status, event_id, "
                    "http_status, error, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (run_id, row_number) DO UPDATE SET "
                    "fingerprint = excluded.fingerprint, status = excluded.status, "
                    "event_id = excluded.event_id, http_status = excluded.http_status, "
                    "error = excluded.error, attempts = excluded.attempts",
                    values,
                )
            db.execute(
                "UPDATE runs SET ended_at = ?, results_path = ?, counts = ?, exit_code = ? "
                "WHERE id = ?",
                (
                    utc_now(),
                    "" if results_path is None else str(results_path),
                    json.dumps(counts),
                    exit_code,
                    run_id,
                ),
            )

    def runs(self, limit: int = 20) -> list[RunSummary]:
        rows = self.query(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return [_run(row) for row in rows]

    def latest_finished_run(self, file_hash: str, file_name: str) -> RunSummary | None:
        """The newest finished run of this file content, else of a file with this name."""
        for column, value in (("file_hash", file_hash), ("file_name", file_name)):
            found = self.query(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE {column} = ? AND ended_at IS NOT NULL "
                "ORDER BY id DESC LIMIT 1",
                (value,),
            )
            if found:
                return _run(found[0])
        return None

    def latest_run_of_content(
        self, file_hash: str, account: str, base_url: str
    ) -> RunSummary | None:
        """The newest finished run of this exact content, whatever its exit code."""
        return self._newest_run_of_content(file_hash, account, base_url, "ended_at IS NOT NULL")

    def completed_run_of_content(
        self, file_hash: str, account: str, base_url: str
    ) -> RunSummary | None:
        """A run that went through every row of this exact content (exit 0 or 1), if any."""
        return self._newest_run_of_content(file_hash, account, base_url, "exit_code IN (0, 1)")

    def _newest_run_of_content(
        self, file_hash: str, account: str, base_url: str, condition: str
    ) -> RunSummary | None:
        found = self.query(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE file_hash = ? AND account = ? "
            f"AND base_url = ? AND {condition} ORDER BY id DESC LIMIT 1",
            (file_hash, account, base_url),
        )
        return _run(found[0]) if found else None

    def run_rows(self, run_id: int) -> list[RowResult]:
        rows = self.query(
            "SELECT row_number, status, event_id, http_status, error, attempts FROM run_rows "
            "WHERE run_id = ? ORDER BY row_number",
            (run_id,),
        )
        return [
            RowResult(int(row[0]), Status(row[1]), row[2], row[3], row[4], row[5]) for row in rows
        ]

    def run_row_accounts(self, run_id: int) -> dict[int, str]:
        """Row number → the account of the request each row of a run was planned as (for rows
        with a request the ledger still holds)."""
        rows = self.query(
            "SELECT run_rows.row_number, requests.account FROM run_rows JOIN requests "
            "ON requests.fingerprint = run_rows.fingerprint WHERE run_rows.run_id = ?",
            (run_id,),
        )
        return {int(row_number): account for row_number, account in rows}

    def run_row_planned(self, run_id: int) -> set[int]:
        """The row numbers of a run that were planned as requests (they have a fingerprint)."""
        rows = self.query(
            "SELECT row_number FROM run_rows WHERE run_id = ? AND fingerprint != ''", (run_id,)
        )
        return {int(row_number) for (row_number,) in rows}

    def prune(self, older_than: timedelta) -> tuple[int, int]:
        """Delete request records last touched, and runs ended, before now - ``older_than``.

        Records still ``sending`` are kept: they belong to a run that may yet need recovery.
        """
        cutoff = (datetime.now(UTC) - older_than).isoformat(timespec="microseconds")
        with self._transaction() as db:
            requests = db.execute(
                "DELETE FROM requests WHERE last_at < ? AND state != ?",
                (cutoff, RequestState.SENDING.value),
            ).rowcount
            runs = db.execute(
                "DELETE FROM runs WHERE ended_at IS NOT NULL AND ended_at < ?", (cutoff,)
            ).rowcount
        return requests, runs


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content, read in blocks: the identity of an input in the ledger."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
