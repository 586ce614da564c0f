"""Read → validate → build bodies: the library entry points the CLI and other callers use."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lac_batch.columns import ColumnPlan, Field, column_letter, plan_columns
from lac_batch.errors import HeaderError
from lac_batch.payload import assemble_metadata, build_body, canonical_json
from lac_batch.reader import read_table
from lac_batch.results import RowResult
from lac_batch.schema import RowIssue, check_rows, converted_frame, metadata_entries
from lac_batch.status import Status
from lac_batch.table import RawTable

__all__ = [
    "RequestSheet",
    "RowVerdict",
    "ValidationReport",
    "read_requests",
    "validate",
]


@dataclass
class RequestSheet:
    """A request file as read: its cells and what each column means."""

    table: RawTable
    plan: ColumnPlan

    @property
    def path(self) -> Path:
        return self.table.path

    @property
    def warnings(self) -> list[str]:
        if not self.plan.unknown:
            return []
        names = ", ".join(f"'{name}'" for name in self.plan.unknown)
        return [f"{self.path}: ignoring unknown columns {names} (--strict makes this an error)."]


@dataclass(frozen=True, slots=True)
class RowVerdict:
    """One data row after validation: valid with its body, or invalid with its issues."""

    row_number: int
    body_json: str | None
    """The canonical JSON body to send, or None when the row is invalid."""
    issues: tuple[RowIssue, ...] = ()
    occurrence: int = 1
    """1 for the first row with this body, 2 for its second copy (``--allow-duplicates``), …"""

    @property
    def is_valid(self) -> bool:
        return self.body_json is not None

    @property
    def body(self) -> dict[str, Any]:
        if self.body_json is None:
            raise ValueError(f"row {self.row_number} is invalid and has no body")
        body: dict[str, Any] = json.loads(self.body_json)
        return body

    def result(self) -> RowResult:
        if self.is_valid:
            return RowResult(self.row_number, Status.VALID)
        return RowResult(
            self.row_number, Status.INVALID, error=" | ".join(str(issue) for issue in self.issues)
        )


@dataclass
class ValidationReport:
    """Every row's verdict, in file order, and the counts a summary needs."""

    sheet: RequestSheet
    rows: list[RowVerdict] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(row.is_valid for row in self.rows)

    @property
    def valid_rows(self) -> Iterator[RowVerdict]:
        return (row for row in self.rows if row.is_valid)

    @property
    def counts(self) -> Counter[Status]:
        return Counter(Status.VALID if row.is_valid else Status.INVALID for row in self.rows)

    @property
    def issues(self) -> list[RowIssue]:
        return [issue for row in self.rows for issue in row.issues]

    def flatten(self) -> list[tuple[int, str | None, str]]:
        """(row number, column, code) of every issue: handy for exact assertions."""
        return [(issue.row_number, issue.column, issue.code) for issue in self.issues]


def read_requests(
    path: Path | str,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    strict: bool = False,
) -> RequestSheet:
    """Read a request file and recognise its columns; raises InputFileError/HeaderError."""
    table = read_table(path, sheet=sheet, encoding=encoding, delimiter=delimiter)
    blank_with_values = [
        position
        for position, header in enumerate(table.headers)
        if not header.strip() and any(row[position].strip() for row in table.rows)
    ]
    plan = plan_columns(
        table.headers, table.path, strict=strict, blank_columns_with_values=blank_with_values
    )
    return RequestSheet(table, plan)


def _reader_issues(sheet: RequestSheet) -> dict[int, list[RowIssue]]:
    """Issues the reader saw (formulas without values, extra cells), keyed by row number."""
    issues: dict[int, list[RowIssue]] = {}
    for problem in sheet.table.problems:
        column = None
        if problem.position is not None:
            header = sheet.table.headers[problem.position].strip()
            column = header or f"column {column_letter(problem.position)}"
        issues.setdefault(problem.row_number, []).append(
            RowIssue(problem.row_number, column, problem.code, problem.message)
        )
    return issues


def _bodies(sheet: RequestSheet, frame_rows: Sequence[Sequence[Any]]) -> list[str]:
    plan = sheet.plan
    index = {spec.field: place for place, spec in enumerate(plan.columns)}
    has_metadata = bool(plan.metadata_values) or Field.METADATA in index
    json_place = index.get(Field.METADATA)

    def text(values: Sequence[Any], wanted: Field) -> str:
        place = index.get(wanted)
        return "" if place is None else str(values[place]).strip()

    bodies: list[str] = []
    for values in frame_rows:
        metadata = None
        if has_metadata:
            json_object = values[json_place] if json_place is not None else None
            metadata = assemble_metadata(json_object, metadata_entries(plan, values))
        note_place = index.get(Field.NOTE)
        note = values[note_place] if note_place is not None else ""
        body = build_body(
            text(values, Field.CONNECTION_KEY),
            text(values, Field.REQUEST_TYPE),
            customer_id=text(values, Field.CUSTOMER_ID),
            # The note is sent exactly as written; a note of only spaces counts as empty.
            note=note if note.strip() else "",
            metadata=metadata,
        )
        bodies.append(canonical_json(body))
    return bodies


def validate(
    sheet: RequestSheet,
    *,
    allow_duplicates: bool = False,
    customers_with_keys: frozenset[str] | None = None,
) -> ValidationReport:
    """Check every row of ``sheet`` and build the request body of each valid one.

    Every issue of every row is reported. Two rows with the same body: the later one is invalid
    ("duplicate of row N") unless ``allow_duplicates``, in which case each copy is numbered by its
    ``occurrence`` so it becomes a request of its own. With ``customers_with_keys`` (a keys
    file), a row whose ``customer_id`` has no key is invalid.
    """
    table = sheet.table
    frame = converted_frame(sheet.plan, table.rows)
    if customers_with_keys is not None and sheet.plan.by_field(Field.CUSTOMER_ID) is None:
        raise HeaderError(
            sheet.path,
            "has no customer_id column, but a keys file is in use: each row's customer_id picks "
            "the API key it is sent with. Add the column, or submit without --keys-file.",
        )
    schema_issues = check_rows(sheet.plan, frame, table.row_numbers, customers_with_keys)
    reader_issues = _reader_issues(sheet)
    positions_ok = [
        position
        for position, row_number in enumerate(table.row_numbers)
        if position not in schema_issues and row_number not in reader_issues
    ]
    frame_rows = list(frame.iloc[positions_ok].itertuples(index=False, name=None))
    bodies = dict(zip(positions_ok, _bodies(sheet, frame_rows), strict=True))
    first_row: dict[str, int] = {}
    seen: Counter[str] = Counter()
    verdicts: list[RowVerdict] = []
    for position, row_number in enumerate(table.row_numbers):
        issues = reader_issues.get(row_number, []) + schema_issues.get(position, [])
        body_json = bodies.get(position)
        occurrence = 1
        if body_json is not None:
            seen[body_json] += 1
            occurrence = seen[body_json]
            first = first_row.setdefault(body_json, row_number)
            if occurrence > 1 and not allow_duplicates:
                issues.append(
                    RowIssue(
                        row_number,
                        None,
                        "duplicate",
                        f"duplicate of row {first} (the same request); delete one of them, or "
                        "use --allow-duplicates to send both",
                    )
                )
        if issues:
            verdicts.append(RowVerdict(row_number, None, tuple(issues)))
        else:
            verdicts.append(RowVerdict(row_number, body_json, (), occurrence))
    return ValidationReport(sheet, verdicts)
