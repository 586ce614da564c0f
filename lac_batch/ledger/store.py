"""The SQLite ledger: every request ever sent, and every run with one line per input row.

One record per request fingerprint (its ``Idempotency-Key``) holds its state:

    sending   committed before the request leaves; still there after a crash → unknown
    accepted  202, with its event_id
    rejected  the server refused it
    failed    surely not processed (not delivered, or refused key): safe to send again
    unknown   may have been processed

No API key is stored: only ``key_hash``, a short one-way hash to tell keys apart. The schema is
versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` brings any older file up to date.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, assert_never

import platformdirs

from lac_batch.files.modes import create_ledger_file, tighten_ledger_files
from lac_batch.model.errors import LedgerError
from lac_batch.model.status import RowResult, SentAttempt, Status
from lac_batch.model.wording import Option, option_name

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
    id INTEGER PRIMARY KEY,
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

# Version 3 closes the loop on rows that did not go through (jobs.retry, ledger.worklist):
# why a record is failed (only one whose attempts ran out, or that a person said was not
# processed, is retried), which command created it, how often a retry pass took it, when its
# retry window began (a resolution restarts it) and when retrying it ended; and who resolved
# an unknown record, when, and how. Records made before it keep failed_why '' and are never
# retried automatically.
_V3 = """
ALTER TABLE requests ADD COLUMN failed_why TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN retry_since TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN retry_ended TEXT NOT NULL DEFAULT '';
UPDATE requests SET origin = COALESCE(
    (SELECT runs.command FROM runs WHERE runs.id = requests.run_id), '');
CREATE INDEX requests_state ON requests (state, failed_why);
CREATE TABLE resolutions (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    resolution TEXT NOT NULL,
    event_id TEXT NOT NULL DEFAULT '',
    resolved_by TEXT NOT NULL,
    resolved_at TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    earlier_state TEXT NOT NULL,
    earlier_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX resolutions_fingerprint ON resolutions (fingerprint)
"""

# Version 4: how far a run has got, so that `report --runs` can show a run still going:
# to_send is set when the run starts, done is raised with each batch of outcomes written.
_V4 = """
ALTER TABLE runs ADD COLUMN to_send INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN done INTEGER NOT NULL DEFAULT 0
"""


# Each request a run sent, with its answer: "did row X go through?" shows every attempt. Written
# with the row's outcome (never one commit per attempt); no API key, as everywhere. No foreign
# key to runs (as requests.run_id has none): prune deletes a pruned run's attempts itself.
_V_ATTEMPTS = """
CREATE TABLE attempts (
    run_id INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    n INTEGER NOT NULL,
    at TEXT NOT NULL,
    http_status INTEGER,
    error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, fingerprint, n)
) WITHOUT ROWID
"""
# WITHOUT ROWID and no other index: one b-tree insert per attempt, in the writer thread that
# marks requests while they wait (every lookup names the run: history, prune).

# Version 6: how each run read its file's headers (lac_batch.model.mapping's record), so
# that a file read again under another mapping is refused rather than sent as new requests.
_V_MAPPING = """
ALTER TABLE runs ADD COLUMN mapping TEXT NOT NULL DEFAULT ''
"""

MIGRATIONS: dict[int, str] = {
    1: _V1,
    2: _V2,
    3: _V3,
    4: _V4,
    5: _V_ATTEMPTS,
    6: _V_MAPPING,
}
"""Schema version → the SQL that brings version - 1 up to it."""
SCHEMA_VERSION = max(MIGRATIONS)


class FailedWhy(StrEnum):
    """Why a record is ``failed`` (the column ``failed_why``; '' for other states)."""

    RAN_OUT = "ran_out"
    """Its attempts or its waiting ran out (503s, no connection): retried by later passes."""
    STOPPED = "stopped"
    """The run stopped before it was settled (Ctrl-C, a refused key, a wrong base URL, the
    ledger): never the server's to refuse, so not retried; a rerun of its file sends it."""
    NOT_PROCESSED = "not_processed"
    """Left unknown, then a person said it was not processed: retried by later passes."""


RETRYABLE = (FailedWhy.RAN_OUT, FailedWhy.NOT_PROCESSED)
RETRY_COMMAND = "retry"
"""The command of a retry pass's runs: one per earlier run whose rows it retried, holding only
those rows, so it never stands for its file (the file's own run does, with these on top)."""


class Resolution(StrEnum):
    """What a person found of a request left unknown (``lac-batch resolve``)."""

    ACCEPTED = "accepted"
    NOT_PROCESSED = "not_processed"


def failed_why_of(result: RowResult) -> str:
    """The ``failed_why`` of the record a row's final result settles ('' unless failed)."""
    if request_state_of(result.status) is not RequestState.FAILED:
        return ""
    return (FailedWhy.RAN_OUT if result.ran_out else FailedWhy.STOPPED).value


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
    origin: str = ""
    """The command that creates the record (kept when a later run marks it again)."""


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
    to_send: int = 0
    """Requests the run set out to send."""
    done: int = 0
    """Of those, how many had a final outcome written so far (while the run goes on)."""


_T = TypeVar("_T")
_Settled = tuple[str, str, str, int | None, str, int, str]
"""An outcome as written: fingerprint, state, event_id, http_status, error, attempts,
failed_why."""

AttemptRow = tuple[int, str, int, str, int | None, str]
"""One row of the ``attempts`` table: run_id, fingerprint, n (its number in that run), at (UTC,
ISO 8601), http_status, error."""


def attempt_rows(
    run_id: int, fingerprint: str, attempts: Sequence[SentAttempt], first: int = 1
) -> list[AttemptRow]:
    """The ``attempts`` rows of one request's attempts in one run, numbered from ``first``."""
    return [
        (
            run_id,
            fingerprint,
            number,
            attempt.at.isoformat(timespec="microseconds"),
            attempt.http_status,
            attempt.error,
        )
        for number, attempt in enumerate(attempts, start=first)
    ]


_RECORD_COLUMNS = (
    "fingerprint, state, generation, event_id, http_status, error, attempts, first_at, last_at, "
    "account, occurrence"
)
_RUN_COLUMNS = (
    "id, started_at, ended_at, pid, command, file_name, file_path, file_hash, account, base_url, "
    "results_path, counts, exit_code, to_send, done"
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


@dataclass(frozen=True)
class RunMapping:
    """How one run read its file's headers."""

    run_id: int
    started_at: str
    mapping: str


def _same_results(source: str, results: str, path: Path) -> bool:
    """Whether ``results`` (as a run recorded it; relative to where its input was) is ``path``."""
    written = Path(results)
    if not written.is_absolute():
        written = Path(source).parent / written.name
    try:
        return written.resolve() == path.resolve()
    except OSError:
        return False


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
# parameters (14 now) stay under 999, the parameter limit of SQLite before 3.32.
_ROWS_PER_STATEMENT = 64


@functools.cache
def _mark_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, 'sending', 0, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO requests (fingerprint, base_url, account, key_hash, body_hash, occurrence, "
        "generation, state, attempts, first_at, last_at, file_name, row_number, run_id, body, "
        "origin) "
        f"VALUES {values} ON CONFLICT (fingerprint) DO UPDATE SET state = 'sending', "
        "last_at = excluded.last_at, file_name = excluded.file_name, "
        "row_number = excluded.row_number, run_id = excluded.run_id, key_hash = excluded.key_hash"
    )


@functools.cache
def _attempts_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT OR REPLACE INTO attempts (run_id, fingerprint, n, at, http_status, error) "
        f"VALUES {values}"
    )


@functools.cache
def _outcome_sql(rows: int) -> str:
    # A CTE and a correlated subquery rather than UPDATE ... FROM, which needs SQLite 3.33.
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "WITH o (fingerprint, state, event_id, http_status, error, attempts, failed_why) AS "
        f"(VALUES {values}) "
        "UPDATE requests SET (state, event_id, http_status, error, last_at, attempts, "
        "failed_why) = (SELECT o.state, o.event_id, o.http_status, o.error, ?, "
        "requests.attempts + o.attempts, o.failed_why "
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


def _explain(path: Path, error: sqlite3.Error) -> str:
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


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """The one boundary where a sqlite3 failure becomes a LedgerError naming the ledger."""
    try:
        yield
    except sqlite3.Error as error:
        raise LedgerError(_explain(path, error)) from error


def default_ledger_path() -> Path:
    """``<user state dir>/lac-batch/ledger.sqlite3``: the ledger when no setting names one.

    ``--ledger``, ``LAC_LEDGER`` and the config file's ``ledger`` are resolved by
    :mod:`lac_batch.settings.config` like every other setting, before this default applies.
    """
    return platformdirs.user_state_path("lac-batch", appauthor=False) / "ledger.sqlite3"


def new_ledger_notice(path: Path) -> str:
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
    """One open ledger file. Not thread-safe: use it from one thread at a time."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self.created = False
        """This open created the file: no earlier runs are known (say so: it may be a mistake)."""

    @classmethod
    def open(cls, path: Path) -> Ledger:
        """Open (create if needed) and migrate the ledger at ``path``; LedgerError if unusable.

        Its folder is never created here (see :func:`ensure_ledger_folder`).
        """
        path = Path(path)
        ensure_ledger_folder(path, create=False)
        created = not path.exists()
        try:
            tighten_ledger_files(path)
            create_ledger_file(path)
        except OSError as error:
            raise LedgerError(f"{path}: the ledger cannot be opened ({error}).") from error
        with _sqlite_errors(path):
            # check_same_thread=False: the submitter writes from one worker thread at a time.
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        ledger = cls(path, connection)
        try:
            ledger._prepare()
        except BaseException:
            connection.close()
            raise
        ledger.created = created
        return ledger

    def _prepare(self) -> None:
        with _sqlite_errors(self.path):
            self._migrate()
        # Take the write lock once now, so a read-only ledger fails before any work starts.
        with self._transaction():
            pass

    def _migrate(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it returns, so `sending` survives a power cut too.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=10000")
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"the ledger has schema version {version}, newer than this lac-batch "
                f"({SCHEMA_VERSION}); upgrade lac-batch"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction():
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; any sqlite3 failure becomes a LedgerError naming the file."""
        with _sqlite_errors(self.path):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def query(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement run on its own (autocommit); failures are LedgerErrors."""
        with _sqlite_errors(self.path):
            return self._db.execute(sql, parameters).fetchall()

    # --- requests -------------------------------------------------------------------------

    def recover_interrupted(self) -> int:
        """Records left ``sending`` by a run that died become ``unknown``; returns how many."""
        with self._transaction() as db:
            return db.execute(
                "UPDATE requests SET state = ?, error = ?, last_at = ? WHERE state = ?",
                (
                    RequestState.UNKNOWN.value,
                    "a run stopped (crash, kill, power loss) while this request was being "
                    "sent; it may have been processed",
                    utc_now(),
                    RequestState.SENDING.value,
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

        One query: the ids go in as one JSON array, so the table is scanned once however many
        there are (event_id has no index; this is asked only for rows changed since accepted).
        """
        wanted = sorted({event_id for event_id in event_ids if event_id})
        if not wanted:
            return {}
        rows = self.query(
            "SELECT event_id, body FROM requests WHERE base_url = ? AND state = ? "
            "AND event_id IN (SELECT value FROM json_each(?))",
            (base_url, RequestState.ACCEPTED.value, json.dumps(wanted)),
        )
        return {event_id: body for event_id, body in rows}

    def record_state(self, fingerprint: str) -> RequestRecord | None:
        found = self.query(
            f"SELECT {_RECORD_COLUMNS} FROM requests WHERE fingerprint = ?", (fingerprint,)
        )
        return _record(found[0]) if found else None

    def write_batch(
        self,
        marks: Sequence[SendingMark],
        outcomes: Sequence[tuple[str, RowResult]],
        run_id: int | None = None,
        attempts: Sequence[AttemptRow] = (),
    ) -> None:
        """In one transaction: mark requests ``sending``, settle finished ones and keep the
        attempts that settled them (:func:`attempt_rows`).

        A mark leaves ``attempts`` alone; an outcome adds the attempts its run made. With
        ``run_id``, the run's ``done`` count grows by the outcomes written.
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
                failed_why_of(result),
            )
            for fingerprint, result in outcomes
            if (state := request_state_of(result.status)) is not None
        ]
        with self._transaction() as db:
            for chunk in _chunks(marks):
                db.execute(
                    _mark_sql(len(chunk)),
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
                            mark.origin,
                        )
                    ],
                )
            for rows in _distinct_chunks(settled):
                db.execute(
                    _outcome_sql(len(rows)), [value for row in rows for value in row] + [now]
                )
            if run_id is not None and outcomes:
                db.execute("UPDATE runs SET done = done + ? WHERE id = ?", (len(outcomes), run_id))
            for tried in _chunks(attempts):
                db.execute(_attempts_sql(len(tried)), [value for row in tried for value in row])

    def unmark(self, restores: Sequence[tuple[str, RequestRecord | None]]) -> None:
        """Undo ``sending`` marks of requests that never left: back to what they were before."""
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM requests WHERE fingerprint = ? AND state = 'sending'",
                [(fingerprint,) for fingerprint, earlier in restores if earlier is None],
            )
            db.executemany(
                "UPDATE requests SET state = ?, event_id = ?, http_status = ?, error = ?, "
                "last_at = ? WHERE fingerprint = ? AND state = 'sending'",
                [
                    (
                        earlier.state.value,
                        earlier.event_id,
                        earlier.http_status,
                        earlier.error,
                        earlier.last_at,
                        fingerprint,
                    )
                    for fingerprint, earlier in restores
                    if earlier is not None
                ],
            )

    # --- closing the loop (lac_batch.jobs.retry, lac_batch.ledger.worklist) -----------------

    def resolve(
        self,
        fingerprint: str,
        resolution: Resolution,
        *,
        event_id: str,
        resolved_by: str,
        note: str,
    ) -> bool:
        """Settle a record left ``unknown`` (or ``failed``) as a person found it; False if it is
        in no such state now. ``not_processed`` makes it ``failed`` and retryable, with a new
        retry window from now."""
        now = utc_now()
        said = f"resolved by {resolved_by} ({now[:10]})" + (f": {note}" if note else "")
        with self._transaction() as db:
            found = db.execute(
                "SELECT state, error FROM requests WHERE fingerprint = ? AND state IN (?, ?)",
                (fingerprint, RequestState.UNKNOWN.value, RequestState.FAILED.value),
            ).fetchone()
            if found is None:
                return False
            if resolution is Resolution.ACCEPTED:
                db.execute(
                    "UPDATE requests SET state = ?, event_id = ?, error = ?, failed_why = '', "
                    "last_at = ? WHERE fingerprint = ?",
                    (RequestState.ACCEPTED.value, event_id, f"accepted, {said}", now, fingerprint),
                )
            else:
                db.execute(
                    "UPDATE requests SET state = ?, error = ?, failed_why = ?, retries = 0, "
                    "retry_since = ?, retry_ended = '', last_at = ? WHERE fingerprint = ?",
                    (
                        RequestState.FAILED.value,
                        f"not processed, {said}",
                        FailedWhy.NOT_PROCESSED.value,
                        now,
                        now,
                        fingerprint,
                    ),
                )
            db.execute(
                "INSERT INTO resolutions (fingerprint, resolution, event_id, resolved_by, "
                "resolved_at, note, earlier_state, earlier_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (fingerprint, resolution.value, event_id, resolved_by, now, note, *found),
            )
        return True

    def note_retried(self, taken: Sequence[tuple[str, str]]) -> None:
        """Count one retry of each record a retry pass took ((fingerprint, its failed_why before
        the pass)). One that is still failed keeps its earlier reason: a retry pass that stops
        (Ctrl-C, a refused key) does not make it the server's to refuse."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE requests SET retries = retries + 1, failed_why = CASE WHEN state = ? "
                "THEN ? ELSE failed_why END WHERE fingerprint = ?",
                [(RequestState.FAILED.value, why, fingerprint) for fingerprint, why in taken],
            )

    def end_retries(self, fingerprints: Sequence[str], at: datetime) -> None:
        """Stop retrying these records (their retry window is over): they stay ``failed``."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE requests SET retry_ended = ? WHERE fingerprint = ?",
                [(at.isoformat(timespec="microseconds"), fp) for fp in fingerprints],
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
        to_send: int = 0,
        mapping: str = "",
    ) -> int:
        """Record a run's start (``started_at``: now unless given; ``to_send``: the requests it
        sets out to send); returns the run's id.

        ``mapping``: how the run read the file's headers
        (:func:`lac_batch.model.mapping.mapping_record`).
        """
        started = utc_now() if started_at is None else started_at.isoformat(timespec="microseconds")
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (started_at, pid, command, file_name, file_path, file_hash, "
                "account, base_url, to_send, mapping) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    started,
                    pid,
                    command,
                    file_path.name,
                    str(file_path),
                    file_hash,
                    account,
                    base_url,
                    to_send,
                    mapping,
                ),
            )
        return int(cursor.lastrowid or 0)

    def earlier_mapping(self, file_path: Path, file_hash: str) -> RunMapping | None:
        """How the newest run that recorded requests of this file (the same path, the same
        content, or the results file it wrote) read its headers; None when no such run."""
        found = self.query(
            "SELECT id, started_at, mapping, file_path, results_path FROM runs AS run "
            "WHERE mapping != '' AND ended_at IS NOT NULL "
            "AND (file_path = ? OR file_hash = ? OR results_path LIKE ?) "
            "AND EXISTS (SELECT 1 FROM run_rows WHERE run_id = run.id AND fingerprint != '') "
            "ORDER BY id DESC",
            (str(file_path), file_hash, f"%{file_path.name}"),
        )
        for run_id, started_at, mapping, source, results in found:
            if source == str(file_path) or not results or _same_results(source, results, file_path):
                return RunMapping(int(run_id), str(started_at), str(mapping))
        return None

    def mapping_of_results(self, path: Path) -> RunMapping | None:
        """How the run that wrote the results file ``path`` read its input's headers."""
        found = self.query(
            "SELECT id, started_at, mapping, file_path, results_path FROM runs "
            "WHERE mapping != '' AND results_path LIKE ? ORDER BY id DESC",
            (f"%{path.name}",),
        )
        for run_id, started_at, mapping, source, results in found:
            if _same_results(source, results, path):
                return RunMapping(int(run_id), str(started_at), str(mapping))
        return None

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
            db.executemany(
                "INSERT OR REPLACE INTO run_rows (run_id, row_number, fingerprint, status, "
                "event_id, http_status, error, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
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
                ],
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
                f"AND command != '{RETRY_COMMAND}' ORDER BY id DESC LIMIT 1",
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
            f"AND base_url = ? AND {condition} AND command != '{RETRY_COMMAND}' "
            "ORDER BY id DESC LIMIT 1",
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
            db.execute("DELETE FROM attempts WHERE run_id NOT IN (SELECT id FROM runs)")
        return requests, runs


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content, read in blocks: the identity of an input in the ledger."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
