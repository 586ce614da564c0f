"""What is wrong with a row: the issue type every stage reports in."""

from __future__ import annotations

from dataclasses import dataclass

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@dataclass(frozen=True, slots=True)
class RowIssue:
    """One thing wrong with one row: where, what kind (``code``), and what would fix it."""

    row_number: int
    column: str | None
    """The column's header as written in the file, or None for the row as a whole."""
    code: str
    message: str
    position: int | None = None
    """The column's 0-based position in the file, when the issue is in one cell (else None)."""

    def __str__(self) -> str:
        return f"{self.column}: {self.message}" if self.column else self.message
