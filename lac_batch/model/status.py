"""The one status vocabulary of lac-batch: every input row ends with exactly one of these.

Each final result is made by one named constructor of :class:`RowResult`, so what a status
carries (an event_id, the attempts made, the last HTTP status) is decided here, not at each site:

    valid, invalid       validation (nothing sent)
    accepted, rejected   an answer settled the request
    failed               not delivered: surely not processed, safe to send again
    unknown              may have been processed (an ambiguous answer, a stop mid-request)
    exhausted            out of attempts or of waiting: unknown if any attempt may have been
                         processed, else failed
    unsent               never sent, because the run stopped or held it back
    skipped              accepted in an earlier run, not sent again
    held_unknown         left unknown by an earlier run, not sent again without being asked
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


class Status(StrEnum):
    """Final status of one input row, as written in the ``status`` column of a results file."""

    VALID = "valid"
    """Passed validation (``validate`` and ``submit --dry-run``); nothing was sent."""
    INVALID = "invalid"
    """Failed validation; never sent. ``error`` says what to fix."""
    ACCEPTED = "accepted"
    """The API answered 202; ``event_id`` holds the event."""
    REJECTED = "rejected"
    """The API refused the request itself (e.g. 422); sending it again unchanged will not help."""
    FAILED = "failed"
    """Not delivered after all attempts; surely not processed, so safe to send again."""
    UNKNOWN = "unknown"
    """The request may or may not have been processed; check before sending again."""
    SKIPPED = "skipped"
    """Already accepted in an earlier run; not sent again."""
    NOT_SENT = "not_sent"
    """Valid but never sent, because the run stopped (refused key, interruption)."""


RESULT_COLUMNS = ("row", "status", "event_id", "http_status", "error", "attempts", "sent_to")
ResultBlock = tuple[int, str, str, int | str, str, int | str, str]
"""One row's result cells, in :data:`RESULT_COLUMNS` order ("" for an empty cell)."""


@dataclass(frozen=True, slots=True)
class SentAttempt:
    """One request that left for a row, and its answer: what ``report --row`` shows of it."""

    at: datetime
    """When it left (UTC)."""
    http_status: int | None
    """The answer's status, or None when none came (a transport error)."""
    error: str
    """What the answer or the transport error said ("" for a plain 202)."""


@dataclass(frozen=True, slots=True)
class RowResult:
    """The one final status of one input row, as written to the results file."""

    row_number: int
    status: Status
    event_id: str = ""
    http_status: int | None = None
    error: str = ""
    attempts: int | None = None
    sent_to: str = ""
    """Where and when the row was sent (:class:`lac_batch.files.results.SentTo`), for every row a
    run planned to send."""
    ran_out: bool = field(default=False, compare=False)
    """A ``failed`` row whose attempts or waiting ran out (503s, no connection): the server was
    asked and did not process it, so a later pass may retry it (not a run that stopped)."""
    tried: tuple[SentAttempt, ...] = field(default=(), compare=False)
    """Each request this run sent for the row, in order (429s included: they were sent), kept
    in memory while sending and written with the row's outcome."""

    @classmethod
    def valid(cls, row_number: int) -> RowResult:
        return cls(row_number, Status.VALID)

    @classmethod
    def invalid(cls, row_number: int, *, error: str) -> RowResult:
        return cls(row_number, Status.INVALID, error=error)

    @classmethod
    def accepted(
        cls,
        row_number: int,
        event_id: str,
        *,
        http_status: int | None,
        attempts: int,
        error: str = "",
    ) -> RowResult:
        return cls(row_number, Status.ACCEPTED, event_id, http_status, error, attempts)

    @classmethod
    def rejected(
        cls, row_number: int, *, http_status: int | None, error: str, attempts: int
    ) -> RowResult:
        return cls(
            row_number, Status.REJECTED, http_status=http_status, error=error, attempts=attempts
        )

    @classmethod
    def failed(
        cls, row_number: int, *, http_status: int | None, error: str, attempts: int | None
    ) -> RowResult:
        return cls(
            row_number, Status.FAILED, http_status=http_status, error=error, attempts=attempts
        )

    @classmethod
    def unknown(
        cls,
        row_number: int,
        *,
        error: str,
        http_status: int | None = None,
        attempts: int | None = None,
    ) -> RowResult:
        return cls(
            row_number, Status.UNKNOWN, http_status=http_status, error=error, attempts=attempts
        )

    @classmethod
    def exhausted(
        cls,
        row_number: int,
        *,
        maybe_processed: bool,
        http_status: int | None,
        error: str,
        attempts: int,
    ) -> RowResult:
        """Out of attempts or of waiting: a row any of whose attempts may have been processed
        never ends failed ("safe to send again")."""
        if maybe_processed:
            return cls.unknown(row_number, http_status=http_status, error=error, attempts=attempts)
        return cls(
            row_number,
            Status.FAILED,
            http_status=http_status,
            error=error,
            attempts=attempts,
            ran_out=True,
        )

    @classmethod
    def unsent(
        cls,
        row_number: int,
        *,
        error: str,
        http_status: int | None = None,
        attempts: int | None = None,
    ) -> RowResult:
        return cls(
            row_number, Status.NOT_SENT, http_status=http_status, error=error, attempts=attempts
        )

    @classmethod
    def skipped(
        cls, row_number: int, event_id: str, *, error: str, http_status: int | None = None
    ) -> RowResult:
        return cls(row_number, Status.SKIPPED, event_id, http_status, error)

    @classmethod
    def held_unknown(
        cls, row_number: int, *, error: str, http_status: int | None = None
    ) -> RowResult:
        """Left unknown by an earlier run, and not sent in this one."""
        return cls.unknown(row_number, error=error, http_status=http_status)

    def cells(self) -> ResultBlock:
        return (
            self.row_number,
            self.status.value,
            self.event_id,
            "" if self.http_status is None else self.http_status,
            self.error,
            "" if self.attempts is None else self.attempts,
            self.sent_to,
        )
