"""Read → validate → build bodies: the library entry points the CLI and other callers use."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lac_batch.cells import MetadataType
from lac_batch.columns import ColumnPlan, Field, column_letter, plan_columns
from lac_batch.errors import HeaderError
from lac_batch.gc_pause import collector_paused
from lac_batch.payload import assemble_metadata, build_body, canonical_json
from lac_batch.reader import read_table
from lac_batch.results import RowResult
from lac_batch.schema import (
    RowIssue,
    check_rows,
    converted_frame,
    may_collide,
    metadata_entry_reader,
)
from lac_batch.status import Status
from lac_batch.table import RawTable

__all__ = [
    "RequestSheet",
    "RowVerdict",
    "ValidationReport",
    "read_requests",
    "validate",
]

# Enough rows to spread the per-call cost thin; few enough that their objects stay small.
_BODY_BATCH_ROWS = 50_000


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


def _texts(columns: Sequence[Sequence[Any]], place: int | None, count: int) -> Sequence[str]:
    """A request field's trimmed text per row ("" throughout when the column is absent)."""
    if place is None:
        return [""] * count
    return [str(value).strip() for value in columns[place]]


def _metadata_objects(plan: ColumnPlan, columns: Sequence[Sequence[Any]], count: int) -> list[Any]:
    """Each row's ``metadata`` object (or None), for a plan where no two columns can collide.

    Built a column at a time: the same objects :func:`assemble_metadata` builds row by row.
    """
    leaves: list[tuple[tuple[str, ...], Sequence[Any]]] = []
    for place, spec in enumerate(plan.columns):
        if spec.field is not Field.METADATA_VALUE:
            continue
        values = columns[place]
        if spec.value_type is MetadataType.STR:
            # An empty or blank text cell leaves its key out, as an empty typed cell (None) does.
            values = [value.strip() or None for value in values]
        leaves.append((spec.key_path, values))
    if not leaves:
        return [None] * count
    return _nested_objects(leaves, count)


def _nested_objects(
    leaves: Sequence[tuple[tuple[str, ...], Sequence[Any]]], count: int
) -> list[dict[str, Any]]:
    """Per row, the object of ``leaves`` (key path, value per row); objects left empty stay out."""
    objects: list[dict[str, Any]] = [{} for _ in range(count)]
    children: dict[str, list[tuple[tuple[str, ...], Sequence[Any]]]] = {}
    for key_path, values in leaves:
        children.setdefault(key_path[0], []).append((key_path[1:], values))
    for key, below in children.items():
        # No collisions: a key is either one value or a parent of values, never both.
        if not below[0][0]:
            for target, value in zip(objects, below[0][1], strict=True):
                if value is not None:
                    target[key] = value
        else:
            for target, inner in zip(objects, _nested_objects(below, count), strict=True):
                if inner:
                    target[key] = inner
    return objects


def _bodies(plan: ColumnPlan, columns: Sequence[Sequence[Any]], count: int) -> list[str]:
    """The canonical body of each row; ``columns[k]`` holds plan column k's checked values."""
    index = {spec.field: place for place, spec in enumerate(plan.columns)}
    connection_keys = _texts(columns, index.get(Field.CONNECTION_KEY), count)
    request_types = _texts(columns, index.get(Field.REQUEST_TYPE), count)
    customer_ids = _texts(columns, index.get(Field.CUSTOMER_ID), count)
    note_place = index.get(Field.NOTE)
    # The note is sent exactly as written; a note of only spaces counts as empty.
    notes = (
        [note if note.strip() else "" for note in columns[note_place]]
        if note_place is not None
        else [""] * count
    )
    json_place = index.get(Field.METADATA)
    metadata: Sequence[Any]
    if json_place is None and not may_collide(plan):
        metadata = _metadata_objects(plan, columns, count)
    else:
        entries = metadata_entry_reader(plan)
        rows = zip(*columns, strict=True)
        metadata = [
            assemble_metadata(
                values[json_place] if json_place is not None else None, entries(values)
            )
            for values in rows
        ]
    return [
        canonical_json(
            build_body(
                connection_key, request_type, customer_id=customer_id, note=note, metadata=meta
            )
        )
        for connection_key, request_type, customer_id, note, meta in zip(
            connection_keys,
            request_types,
            customer_ids,
            notes,
            metadata,
            strict=True,
        )
    ]


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
    with collector_paused():
        return _validate(sheet, allow_duplicates, customers_with_keys)


def _validate(
    sheet: RequestSheet, allow_duplicates: bool, customers_with_keys: frozenset[str] | None
) -> ValidationReport:
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
    columns = [frame.iloc[:, place].tolist() for place in range(frame.shape[1])]
    if len(positions_ok) < len(table.row_numbers):
        columns = [[column[position] for position in positions_ok] for column in columns]
    del frame
    bodies: list[str | None] = [None] * len(table.row_numbers)
    # A slice of rows at a time, so only that many metadata objects exist at once.
    for start in range(0, len(positions_ok), _BODY_BATCH_ROWS):
        batch = positions_ok[start : start + _BODY_BATCH_ROWS]
        part = [column[start : start + _BODY_BATCH_ROWS] for column in columns]
        for position, body in zip(batch, _bodies(sheet.plan, part, len(batch)), strict=True):
            bodies[position] = body
    del columns
    # Body → the row it first appeared in; with --allow-duplicates, how often it was seen.
    first_row: dict[str, int] = {}
    seen: Counter[str] = Counter()
    verdicts: list[RowVerdict] = []
    for position, row_number in enumerate(table.row_numbers):
        body_json = bodies[position]
        if body_json is None:
            issues = reader_issues.get(row_number, []) + schema_issues.get(position, [])
            verdicts.append(RowVerdict(row_number, None, tuple(issues)))
            continue
        first = first_row.setdefault(body_json, row_number)
        if first == row_number:
            verdicts.append(RowVerdict(row_number, body_json))
        elif allow_duplicates:
            seen[body_json] += 1
            verdicts.append(RowVerdict(row_number, body_json, (), seen[body_json] + 1))
        else:
            duplicate = RowIssue(
                row_number,
                None,
                "duplicate",
                f"duplicate of row {first} (the same request); delete one of them, or "
                "use --allow-duplicates to send both",
            )
            verdicts.append(RowVerdict(row_number, None, (duplicate,)))
    return ValidationReport(sheet, verdicts)
