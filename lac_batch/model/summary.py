"""Short, human summaries of a command's outcome, for the terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lac_batch.model.issues import RowIssue
from lac_batch.model.status import Status

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

FIRST_ISSUES_SHOWN = 10


def count_of(number: int, noun: str) -> str:
    """``1 row``, ``3 rows``: a count with its noun (a regular English plural)."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def format_counts(counts: Mapping[Status, int]) -> str:
    """``valid 40, invalid 2`` in the order of the status vocabulary, zero counts left out."""
    return ", ".join(f"{status.value} {counts[status]}" for status in Status if counts.get(status))


def format_issues(issues: Iterable[RowIssue], limit: int = FIRST_ISSUES_SHOWN) -> list[str]:
    """``row 7, metadata.amount:int: '12,5' is not a whole number`` for the first ``limit``."""
    listed = list(issues)
    lines = [f"  row {issue.row_number}, {issue}" for issue in listed[:limit]]
    if len(listed) > limit:
        lines.append(f"  … and {len(listed) - limit} more (see the results file)")
    return lines
