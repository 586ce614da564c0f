"""What notifications remember between runs, kept in the ledger (schema version 2).

A problem that repeats on every run (a revoked key, a stuck lock, a broken config) is told once,
and once more when it clears. The table ``notify_problems`` holds one row per open problem:

    kind         ProblemKind value (primary key)
    since        when it was first seen (UTC, ISO 8601)
    last_seen    when it was last seen
    notified_at  when a message about it was delivered; NULL: not yet (tried again next run)
    summary      one line saying what is wrong (no key, no row data)

A row is deleted when the problem clears: after "recovered" was delivered, or at once if no
message about it ever was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lac_batch.ledger.store import Ledger, utc_now
from lac_batch.model.status import RowResult
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_RUNS_SEARCHED = 200
"""How many of the newest runs are searched for the one that wrote a results file."""


class ProblemKind(StrEnum):
    """A problem that persists from run to run until someone fixes it."""

    AUTH_REFUSED = "auth_refused"
    """The API refused the key (exit 3); clears when a later run has rows accepted or rejected."""
    LOCK_STUCK = "lock_stuck"
    """Another run held the lock longer than lock_warn_after (exit 4); clears when a run gets it."""
    CONFIG = "config_error"
    """The settings could not be used (exit 2 before starting); clears when a run starts."""
    START_FAILED = "start_failed"
    """The run could not start after its settings loaded (e.g. the ledger); clears when one does."""
    NEW_LEDGER = "new_ledger"
    """A run created a new, empty ledger: told once, as it happens, and never stored."""
    STOPPED = "stopped"
    """A file stopped the run early (wrong base URL, ledger not writable); clears when a
    later run has rows accepted or rejected."""
    RESULTS_NOT_WRITTEN = "results_not_written"
    """Rows were sent but their results file could not be written where asked (exit 5); clears
    when a later run writes a results file where asked."""


@dataclass(frozen=True)
class OpenProblem:
    kind: ProblemKind
    since: str
    last_seen: str
    notified_at: str | None
    summary: str


class ProblemStore:
    """The ``notify_problems`` table of one ledger file. Use as a context manager."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @classmethod
    def open(cls, ledger_path: Path | LedgerUrl) -> ProblemStore:
        """Open (create, migrate) the ledger at ``ledger_path``; LedgerError if it cannot be."""
        return cls(Ledger.open(ledger_path))

    @property
    def created_ledger(self) -> bool:
        """Opening the store created the ledger file (a run that could not start)."""
        return self._ledger.created

    def close(self) -> None:
        self._ledger.close()

    def __enter__(self) -> ProblemStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _execute(self, sql: str, parameters: Iterable[object] = ()) -> list[tuple[object, ...]]:
        # Through the ledger's own connection, so its failures are translated in one place.
        return self._ledger.query(sql, tuple(parameters))

    def open_problems(self) -> dict[ProblemKind, OpenProblem]:
        rows = self._execute(
            "SELECT kind, since, last_seen, notified_at, summary FROM notify_problems"
        )
        found: dict[ProblemKind, OpenProblem] = {}
        for kind, since, last_seen, notified_at, summary in rows:
            try:
                known = ProblemKind(str(kind))
            except ValueError:
                continue  # written by a newer lac-batch; not ours to judge
            found[known] = OpenProblem(
                known,
                str(since),
                str(last_seen),
                None if notified_at is None else str(notified_at),
                str(summary),
            )
        return found

    def record(self, kind: ProblemKind, summary: str) -> OpenProblem:
        """The problem was seen now: insert it, or update when it was last seen and its summary."""
        now = utc_now()
        self._execute(
            "INSERT INTO notify_problems (kind, since, last_seen, summary) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind) DO UPDATE SET last_seen = excluded.last_seen, "
            "summary = excluded.summary",
            (kind.value, now, now, summary),
        )
        return self.open_problems()[kind]

    def mark_notified(self, kinds: Iterable[ProblemKind]) -> None:
        now = utc_now()
        for kind in kinds:
            self._execute(
                "UPDATE notify_problems SET notified_at = ? WHERE kind = ?", (now, kind.value)
            )

    def clear(self, kinds: Iterable[ProblemKind]) -> None:
        for kind in kinds:
            self._execute("DELETE FROM notify_problems WHERE kind = ?", (kind.value,))

    def row_results(self, results_path: str) -> list[RowResult]:
        """The rows of the newest runs that wrote ``results_path`` (empty if none is found)."""
        runs = self._ledger.runs(_RUNS_SEARCHED)
        wrote = [run for run in runs if run.results_path == results_path]
        rows = [row for run in wrote for row in self._ledger.run_rows(run.id)]
        return sorted(rows, key=lambda row: row.row_number)
