"""The one status vocabulary of lac-batch: every input row ends with exactly one of these."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["RESULT_COLUMNS", "ResultBlock", "RowResult", "Status"]


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
