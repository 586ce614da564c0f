"""One run at a time per SQLite ledger (a file lock), or per account on a PostgreSQL ledger.

A PostgreSQL ledger is shared by machines and companies: a run holds a session advisory lock
per account it sends for (:func:`account_locks`), taken in one sorted order so two runs of
overlapping accounts cannot each wait for the other, and released with the session when a run
dies. Two operators of different companies do not block each other.

SQLite:
The lock itself is a :class:`filelock.FileLock` beside the ledger (``fcntl`` on POSIX, ``msvcrt``
on Windows): a crashed or killed run releases it with its process, so a stale lock file never
blocks the next run. Who holds it (pid, start time) is kept in a small JSON file beside it, only
for the message; no process is ever probed by pid (``os.kill(pid, 0)`` terminates on Windows).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from lac_batch.files.modes import ledger_file_mode, tighten_ledger_files, write_ledger_note
from lac_batch.ledger.backend import PostgresConnection, account_lock_key
from lac_batch.ledger.store import Ledger, RunSummary, ensure_ledger_folder
from lac_batch.model.errors import RunLockedError

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@dataclass(frozen=True)
class LockHolder:
    pid: int | None
    started_at: datetime | None

    def describe(self) -> str:
        pid = f"pid {self.pid}" if self.pid is not None else "pid unknown"
        started = (
            self.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
            if self.started_at is not None
            else "at an unknown time"
        )
        return f"{pid}, started at {started}"


class RunLock:
    """``with RunLock(ledger_path):`` holds the lock or raises :class:`RunLockedError`."""

    def __init__(self, ledger_path: Path) -> None:
        self.ledger_path = ledger_path
        lock_path = str(ledger_path) + ".lock"
        # The lock file is the ledger's companion: the ledger's mode (POSIX), not the umask.
        self._lock = (
            FileLock(lock_path, mode=ledger_file_mode(ledger_path.parent))
            if os.name == "posix"
            else FileLock(lock_path)
        )
        self._info = Path(str(ledger_path) + ".lock.json")

    def holder(self) -> LockHolder:
        """Who holds (or last held) the lock, from the note it left."""
        try:
            note = json.loads(self._info.read_text(encoding="utf-8"))
            return LockHolder(int(note["pid"]), datetime.fromisoformat(note["started_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return LockHolder(None, None)

    def acquire(self) -> None:
        # filelock would create a missing folder itself: a named ledger's folder never is.
        ensure_ledger_folder(self.ledger_path, create=False)
        tighten_ledger_files(self.ledger_path)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise RunLockedError(self.ledger_path, self.holder()) from None
        note = {"pid": os.getpid(), "started_at": datetime.now(UTC).isoformat()}
        write_ledger_note(self._info, json.dumps(note))

    def is_held(self) -> bool:
        """Whether some run holds the lock now: tried without waiting and let go at once; no
        note is written and no process is probed by pid."""
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return True
        self._lock.release()
        return False

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self._info.unlink()
        self._lock.release()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


@contextmanager
def account_locks(connection: PostgresConnection, accounts: Sequence[str]) -> Iterator[None]:
    """Hold the advisory lock of every account (sorted), or raise RunLockedError (exit 4)
    naming the first account whose lock another session holds."""
    taken: list[int] = []
    try:
        for account in sorted(set(accounts)):
            key = account_lock_key(account)
            if not connection.try_lock(key):
                pid, started = connection.lock_holder(key)
                holder = LockHolder(pid, started)
                raise RunLockedError(f"{connection.location} (account {account})", holder)
            taken.append(key)
        yield
    finally:
        for key in reversed(taken):
            with contextlib.suppress(Exception):
                connection.unlock(key)


def runs_in_progress(ledger: Ledger, runs: Sequence[RunSummary]) -> set[int]:
    """Which of ``runs`` (newest first) are going on now, told by their run locks being held,
    never by probing a pid: of a SQLite ledger, the newest unfinished run while another process
    holds the ledger's lock; of a PostgreSQL ledger, the newest unfinished run of each account
    whose advisory lock another session holds (older unfinished ones stopped without an end).
    """
    unfinished = [run for run in runs if run.ended_at is None]
    if not unfinished:
        return set()
    connection = ledger.connection
    if not isinstance(connection, PostgresConnection):
        assert isinstance(ledger.location, Path)
        return {unfinished[0].id} if RunLock(ledger.location).is_held() else set()
    going: set[int] = set()
    seen: set[str] = set()
    for run in unfinished:
        accounts = ledger.run_accounts(run) - seen
        seen |= accounts
        if any(connection.lock_holder(account_lock_key(account))[0] for account in accounts):
            going.add(run.id)
    return going
