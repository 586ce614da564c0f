"""The sheet behind the rows grid: cells a person edits, each row's verdict kept up to date.

The whole sheet is validated once when opened. After that an edit validates only the rows it
touched (through the same :func:`~lac_batch.rows.validation.validate` as the command line, on a
table of just those rows), and settles duplicates by the rows sharing a body: a change costs
the rows it concerns, not the sheet's 50,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import openpyxl
from openpyxl.cell.cell import TYPE_ERROR, TYPE_STRING

from lac_batch.files.table import CellProblem
from lac_batch.model.columns import column_letter
from lac_batch.model.errors import InputFileError
from lac_batch.model.issues import RowIssue
from lac_batch.rows.validation import RequestSheet, ValidationReport, validate

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

PAGE_ROWS = 50
"""Rows on one page of the grid: the browser never holds more."""

# A cell the reader could not read (a formula without a saved value, an error) is written to
# the edited copy as this error value, so the copy reads back as invalid there too.
_UNREADABLE_CELL = "#N/A"


class RowFilter(StrEnum):
    ALL = "all"
    """Every row, the invalid ones first."""
    INVALID = "invalid"
    VALID = "valid"


@dataclass(frozen=True)
class GridRow:
    """One row of a grid page."""

    position: int
    row_number: int
    cells: list[str]
    issues: tuple[RowIssue, ...]
    bad_columns: frozenset[int]
    """Positions of the cells an issue names."""

    @property
    def is_valid(self) -> bool:
        return not self.issues


@dataclass(frozen=True)
class GridPage:
    rows: list[GridRow]
    row_filter: RowFilter
    page: int
    pages: int
    matching: int
    """Rows the filter lets through."""


class EditableSheet:
    """A request sheet open in the page: its cells, and per row its issues and body."""

    def __init__(self, sheet: RequestSheet, source: Path) -> None:
        self.sheet = sheet
        self.source = source
        """The file the sheet was read from (the upload in the session's folder)."""
        self.edits = 0
        table = sheet.table
        loose = validate(sheet, allow_duplicates=True)
        self._bodies: list[str | None] = list(loose.bodies)
        self._issues: dict[int, tuple[RowIssue, ...]] = dict(loose.row_issues)
        self._groups: dict[str, list[int]] = {}
        for position, body in enumerate(self._bodies):
            if body is not None:
                self._groups.setdefault(body, []).append(position)
        for positions in self._groups.values():
            if len(positions) > 1:
                self._settle(positions)
        self._column_of = {header.strip(): place for place, header in enumerate(table.headers)}
        for place, header in enumerate(table.headers):
            if not header.strip():
                self._column_of[f"column {column_letter(place)}"] = place

    @property
    def headers(self) -> list[str]:
        return self.sheet.table.headers

    @property
    def row_count(self) -> int:
        return len(self.sheet.table.rows)

    @property
    def invalid_count(self) -> int:
        return len(self._issues)

    @property
    def valid_count(self) -> int:
        return self.row_count - self.invalid_count

    def position_of(self, row_number: int) -> int:
        try:
            return self.sheet.table.row_numbers.index(row_number)
        except ValueError:
            raise KeyError(row_number) from None

    def body_of(self, position: int) -> str | None:
        """The exact JSON body the row sends, or None when it is invalid."""
        return None if position in self._issues else self._bodies[position]

    def issues_of(self, position: int) -> tuple[RowIssue, ...]:
        return self._issues.get(position, ())

    def page(self, row_filter: RowFilter, page: int) -> GridPage:
        positions = self._filtered(row_filter)
        pages = max(1, -(-len(positions) // PAGE_ROWS))
        page = min(max(page, 1), pages)
        chosen = positions[(page - 1) * PAGE_ROWS : page * PAGE_ROWS]
        return GridPage(
            [self._grid_row(p) for p in chosen], row_filter, page, pages, len(positions)
        )

    def _filtered(self, row_filter: RowFilter) -> list[int]:
        invalid = sorted(self._issues)
        if row_filter is RowFilter.INVALID:
            return invalid
        valid = [p for p in range(self.row_count) if p not in self._issues]
        return valid if row_filter is RowFilter.VALID else invalid + valid

    def _grid_row(self, position: int) -> GridRow:
        issues = self._issues.get(position, ())
        bad = frozenset(
            self._column_of[issue.column.strip()]
            for issue in issues
            if issue.column is not None and issue.column.strip() in self._column_of
        )
        table = self.sheet.table
        return GridRow(position, table.row_numbers[position], table.rows[position], issues, bad)

    def set_cell(self, position: int, column: int, text: str) -> None:
        """Put ``text`` in a cell and validate its row again (and the rows it duplicated)."""
        self._change({position: {column: text}})

    def replace_in_column(self, column: int, find: str, replacement: str) -> int:
        """Replace ``find`` (plain text) by ``replacement`` in every cell of a column; returns
        how many cells changed."""
        if not find:
            return 0
        changes = {
            position: {column: row[column].replace(find, replacement)}
            for position, row in enumerate(self.sheet.table.rows)
            if find in row[column]
        }
        self._change(changes)
        return len(changes)

    def _change(self, changes: dict[int, dict[int, str]]) -> None:
        if not changes:
            return
        table = self.sheet.table
        for position, cells in changes.items():
            for column, text in cells.items():
                table.rows[position][column] = text
        # What the reader saw in a cell no longer holds once the cell is typed over.
        changed = {
            (table.row_numbers[position], column)
            for position, cells in changes.items()
            for column in cells
        }
        table.problems = [
            problem
            for problem in table.problems
            if (problem.row_number, problem.position) not in changed
        ]
        self.edits += 1
        positions = sorted(changes)
        report = self._validate_rows(positions, allow_duplicates=True)
        touched: set[str] = set()
        for index, position in enumerate(positions):
            old = self._bodies[position]
            if old is not None:
                group = self._groups[old]
                group.remove(position)
                if not group:
                    del self._groups[old]
                touched.add(old)
            new = report.bodies[index]
            self._bodies[position] = new
            if index in report.row_issues:
                self._issues[position] = report.row_issues[index]
            else:
                self._issues.pop(position, None)
            if new is not None:
                group = self._groups.setdefault(new, [])
                group.append(position)
                group.sort()
                touched.add(new)
        for body in touched:
            if body in self._groups:
                self._settle(self._groups[body])

    def _settle(self, positions: Sequence[int]) -> None:
        """Rows sharing one body: the first is valid, each later one a duplicate of it, in the
        words ``validate`` uses for the whole sheet."""
        if len(positions) == 1:
            self._issues.pop(positions[0], None)
            return
        report = self._validate_rows(positions, allow_duplicates=False)
        for index, position in enumerate(positions):
            if index in report.row_issues:
                self._issues[position] = report.row_issues[index]
            else:
                self._issues.pop(position, None)

    def _validate_rows(self, positions: Sequence[int], allow_duplicates: bool) -> ValidationReport:
        table = self.sheet.table
        numbers = [table.row_numbers[p] for p in positions]
        wanted = set(numbers)
        part = replace(
            table,
            rows=[table.rows[p] for p in positions],
            row_numbers=numbers,
            problems=[problem for problem in table.problems if problem.row_number in wanted],
            lines=None,
            result_block=None,
        )
        return validate(RequestSheet(part, self.sheet.plan), allow_duplicates=allow_duplicates)

    def save_copy(self, path: Path) -> Path:
        """Write the sheet as edited to a new .xlsx at ``path``: every cell as text, each row
        at its own row number (so the results and the ledger name the rows the user saw), and
        a cell the reader could not read as an error value (it stays invalid).

        InputFileError when a row has a problem that is not in one cell (an extra cell in a
        CSV line): the copy could not carry it, and the row would read back as valid.
        """
        table = self.sheet.table
        whole_row = [problem for problem in table.problems if problem.position is None]
        if whole_row:
            first = whole_row[0]
            raise InputFileError(
                self.source,
                f"row {first.row_number}: {first.message}. That cannot be fixed in the page; "
                "fix the file itself and open it again.",
            )
        unreadable = _cells_of(table.problems)
        workbook = openpyxl.Workbook(write_only=False)
        sheet = workbook.active
        assert sheet is not None
        sheet.title = (table.sheet or "requests")[:31]
        for column, header in enumerate(table.headers, start=1):
            _text_cell(sheet.cell(row=1, column=column), header)
        for row_number, row in zip(table.row_numbers, table.rows, strict=True):
            for column, text in enumerate(row):
                cell = sheet.cell(row=row_number, column=column + 1)
                if (row_number, column) in unreadable:
                    cell.value = _UNREADABLE_CELL
                    cell.data_type = TYPE_ERROR
                elif text:
                    _text_cell(cell, text)
        workbook.save(path)
        return path


def _text_cell(cell: object, text: str) -> None:
    # A text starting with "=" would otherwise be written as a formula (FACTS: openpyxl).
    cell.value = text  # type: ignore[attr-defined]
    cell.data_type = TYPE_STRING  # type: ignore[attr-defined]


def _cells_of(problems: Iterable[CellProblem]) -> set[tuple[int, int]]:
    return {
        (problem.row_number, problem.position)
        for problem in problems
        if problem.position is not None
    }
