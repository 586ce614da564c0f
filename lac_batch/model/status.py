"""The one status vocabulary of lac-batch: every input row ends with exactly one of these."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Status"]


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
