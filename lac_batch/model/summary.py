"""Short, human summaries of a command's outcome, for the terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lac_batch.model.issues import RowIssue
from lac_batch.model.status import Status

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

FIRST_ISSUES_SHOWN = 10


def format_counts(counts: Mapping[Status, int]) -> str:
    """``valid 40, invalid 2`` in the order of the status vocabulary, zero counts left out
    (``accepted 1,223``: thousands grouped, as every other count the tool prints)."""
    return ", ".join(
        f"{status.value} {counts[status]:,}" for status in Status if counts.get(status)
    )


def format_issues(issues: Iterable[RowIssue], limit: int | None = FIRST_ISSUES_SHOWN) -> list[str]:
    """``row 7, metadata.amount:int: '12,5' is not a whole number`` for the first ``limit``
    (every one when ``limit`` is None)."""
    listed = list(issues)
    shown = listed if limit is None else listed[:limit]
    lines = [f"  row {issue.row_number}, {issue}" for issue in shown]
    if len(listed) > len(shown):
        lines.append(f"  … and {len(listed) - len(shown)} more (see the results file)")
    return lines
