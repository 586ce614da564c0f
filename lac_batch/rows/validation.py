"""Read → validate → build bodies: the library entry points the CLI and other callers use."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from lac_batch.files.gc_pause import collector_paused
from lac_batch.files.reader import read_table
from lac_batch.files.table import RawTable
from lac_batch.model.cells import MetadataType
from lac_batch.model.columns import (
    ColumnPlan,
    Field,
    column_letter,
    fits_as_header,
    header_readings,
    near_miss_problem,
    plan_columns,
)
from lac_batch.model.errors import HeaderError
from lac_batch.model.issues import RowIssue
from lac_batch.model.mapping import (
    IGNORE,
    ColumnMapping,
    ColumnSetup,
    HeaderReading,
    HeaderRule,
    MapEntry,
    near_miss,
)
from lac_batch.model.status import ResultBlock, RowResult, Status
from lac_batch.model.wording import Option, option_name
from lac_batch.rows.body_text import Leaf, json_text_leaf, object_texts, text_leaf, value_leaf
from lac_batch.rows.payload import assemble_metadata, canonical_json
from lac_batch.rows.schema import (
    check_rows,
    converted_columns,
    frame_of,
    may_collide,
    metadata_entry_reader,
)

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_TRIMMED_FIELDS = (Field.CONNECTION_KEY, Field.REQUEST_TYPE, Field.CUSTOMER_ID)
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
        strict = option_name(Option.STRICT)
        said = [f"{self.path}: ignoring unknown columns {names} ({strict} makes this an error)."]
        if self.plan.near_misses:
            problem = near_miss_problem(self.plan.near_misses)
            said.append(f"{self.path}: submit and run will refuse this file: {problem}")
        return said


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
            return RowResult.valid(self.row_number)
        return RowResult.invalid(self.row_number, error=_error_text(self.issues))


def _error_text(issues: Sequence[RowIssue]) -> str:
    """The ``error`` cell of an invalid row: every issue, in order."""
    return " | ".join(map(str, issues))


@dataclass(frozen=True)
class CheckedRows:
    """Every row's checked values by column, and the positions of the rows that passed."""

    columns: list[Sequence[Any]]
    """``columns[k][p]`` is plan column k's checked value in the row at position ``p``."""
    positions: list[int]

    def batches(self) -> Iterator[tuple[list[int], list[Sequence[Any]]]]:
        """Passed rows a slice at a time (so only that many partial texts exist at once)."""
        for start in range(0, len(self.positions), _BODY_BATCH_ROWS):
            positions = self.positions[start : start + _BODY_BATCH_ROWS]
            yield positions, self.picked(positions)

    def picked(self, positions: Sequence[int]) -> list[Sequence[Any]]:
        """The columns of just the rows at ``positions``."""
        return [list(map(column.__getitem__, positions)) for column in self.columns]


@dataclass
class ValidationReport:
    """Every row's verdict, in file order, and the counts a summary needs.

    Held a column at a time (issues only for the invalid rows, bodies built when first asked
    for), since a million per-row objects cost more than the validation itself and ``validate``
    itself never needs the bodies; :attr:`rows` gives the per-row view.
    """

    sheet: RequestSheet
    row_issues: dict[int, tuple[RowIssue, ...]]
    """Row position → its issues, for every invalid row."""
    occurrences: dict[int, int]
    """Row position → occurrence, for the second and later copies (``--allow-duplicates``)."""
    checked: CheckedRows = field(repr=False)

    @cached_property
    def bodies(self) -> list[str | None]:
        """Per row position: the canonical JSON body to send, or None when the row is invalid."""
        bodies: list[str | None] = [None] * len(self.sheet.table.row_numbers)
        plan = self.sheet.plan
        for positions, part in self.checked.batches():
            for position, body in zip(positions, _bodies(plan, part, len(positions)), strict=True):
                if position not in self.row_issues:  # a duplicate found after the schema
                    bodies[position] = body
        return bodies

    @cached_property
    def rows(self) -> list[RowVerdict]:
        row_numbers = self.sheet.table.row_numbers
        return [
            RowVerdict(
                row_numbers[position],
                body_json,
                self.row_issues.get(position, ()),
                self.occurrences.get(position, 1),
            )
            for position, body_json in enumerate(self.bodies)
        ]

    @property
    def row_count(self) -> int:
        return len(self.sheet.table.row_numbers)

    @property
    def valid(self) -> bool:
        return not self.row_issues

    @property
    def valid_rows(self) -> Iterator[RowVerdict]:
        return (row for row in self.rows if row.is_valid)

    @property
    def counts(self) -> Counter[Status]:
        invalid = len(self.row_issues)
        counts = Counter({Status.VALID: self.row_count - invalid, Status.INVALID: invalid})
        return +counts  # only the statuses some row has

    @property
    def issues(self) -> list[RowIssue]:
        return [
            issue for position in sorted(self.row_issues) for issue in self.row_issues[position]
        ]

    def flatten(self) -> list[tuple[int, str | None, str]]:
        """(row number, column, code) of every issue: handy for exact assertions."""
        return [(issue.row_number, issue.column, issue.code) for issue in self.issues]

    def result_blocks(self) -> list[ResultBlock]:
        """The result block of every row as ``validate`` writes it (valid or invalid)."""
        # Every valid block is the same after its row number: made once, not once per row.
        valid = RowResult.valid(0).cells()[1:]
        blocks: list[ResultBlock] = [
            (row_number, *valid) for row_number in self.sheet.table.row_numbers
        ]
        for position, issues in self.row_issues.items():
            blocks[position] = RowResult.invalid(
                blocks[position][0], error=_error_text(issues)
            ).cells()
        return blocks


@dataclass(frozen=True)
class HeaderReport:
    """How a file's headers are understood (``lac-batch columns``, a page that shows them)."""

    table: RawTable
    mapping: ColumnMapping
    """The mapping in effect, every layer merged (its ``profile`` names a profile in use)."""
    readings: tuple[HeaderReading, ...]

    @property
    def header_row(self) -> int:
        return self.table.header_row


def _read_with(
    path: Path | str,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    setup: ColumnSetup,
) -> tuple[RawTable, ColumnSetup]:
    """The table, its header row found with every mapping ``setup`` may read it with; and the
    setup with what a results file remembers of its mapping."""
    candidates = setup.candidates()

    def is_header(cells: Sequence[str]) -> bool:
        if any(fits_as_header(cells, mapping) for mapping in candidates):
            return True
        # A header below a title whose required column is misspelt ('Conection Key') is still
        # the header: reading it there says "did you mean connection_key?", where row 1 (a
        # title) would only say that no header has the column.
        return fits_as_header([near_miss(cell) or cell for cell in cells])

    table = read_table(
        path,
        sheet=sheet,
        encoding=encoding,
        delimiter=delimiter,
        is_header=is_header,
        header_row=setup.header_row,
    )
    if table.remembered_mapping and setup.remembered is None:
        entries = tuple(
            MapEntry(source, target, "the results file's own record")
            for source, target in table.remembered_mapping
        )
        setup = replace(setup, remembered=ColumnMapping(entries))
    return table, setup


def read_headers(
    path: Path | str,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    columns: ColumnSetup | None = None,
) -> HeaderReport:
    """How each header of ``path`` is understood, without validating the rows or refusing
    missing columns; InputFileError when the file cannot be read."""
    table, setup = _read_with(path, sheet, encoding, delimiter, columns or ColumnSetup())
    mapping = setup.resolve(table.headers, table.path)
    return HeaderReport(table, mapping, header_readings(table.headers, table.path, mapping))


def read_requests(
    path: Path | str,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    strict: bool = False,
    columns: ColumnSetup | None = None,
    refuse_near_misses: bool = False,
) -> RequestSheet:
    """Read a request file and recognise its columns; raises InputFileError/HeaderError.

    ``columns``: the mappings and profiles to read headers with, and the header row (see
    :class:`~lac_batch.model.mapping.ColumnSetup`). ``refuse_near_misses``: an unknown header
    close to a known name is an error (as submit and run want), not a warning.
    """
    table, setup = _read_with(path, sheet, encoding, delimiter, columns or ColumnSetup())
    return plan_requests(table, setup, strict=strict, refuse_near_misses=refuse_near_misses)


def plan_requests(
    table: RawTable,
    setup: ColumnSetup,
    *,
    strict: bool = False,
    refuse_near_misses: bool = False,
) -> RequestSheet:
    """Recognise the columns of a table already read (as :func:`read_requests` does), e.g. a
    sheet being edited, read again under another mapping; its header row stays where it is."""
    blank_with_values = [
        position
        for position, header in enumerate(table.headers)
        if not header.strip() and any(row[position].strip() for row in table.rows)
    ]
    plan = plan_columns(
        table.headers,
        table.path,
        strict=strict,
        blank_columns_with_values=blank_with_values,
        mapping=setup.resolve(table.headers, table.path),
        refuse_near_misses=refuse_near_misses,
        header_row=table.header_row,
    )
    table.reading = [
        (reading.header, reading.target or IGNORE)
        for reading in plan.readings
        if reading.target is not None or reading.rule is HeaderRule.IGNORED
    ]
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


def _metadata_leaves(plan: ColumnPlan, columns: Sequence[Sequence[Any]]) -> list[Leaf]:
    """The ``metadata`` object's leaves, each under the key path ``metadata``, ...."""
    if plan.by_field(Field.METADATA) is None and not may_collide(plan):
        leaves: list[Leaf] = []
        for place, spec in enumerate(plan.columns):
            if spec.field is not Field.METADATA_VALUE:
                continue
            key_path = ("metadata", *spec.key_path)
            if spec.value_type is MetadataType.STR:
                # An empty or blank text cell leaves its key out, as an empty typed cell does.
                leaves.append(text_leaf(key_path, list(map(str.strip, columns[place]))))
            else:
                leaves.append(value_leaf(key_path, columns[place], spec.value_type))
        return leaves
    # A JSON column, or keys that could collide: assembled row by row (collisions were
    # already refused by the schema, so every row here assembles cleanly).
    json_spec = plan.by_field(Field.METADATA)
    json_place = plan.columns.index(json_spec) if json_spec is not None else None
    entries = metadata_entry_reader(plan)
    assembled: list[str] = []
    for values in zip(*columns, strict=True):
        metadata = assemble_metadata(
            values[json_place] if json_place is not None else None, entries(values)
        )
        assembled.append(canonical_json(metadata) if metadata else "")
    return [json_text_leaf(("metadata",), assembled)]


def _leaves(plan: ColumnPlan, columns: Sequence[Sequence[Any]]) -> list[Leaf]:
    """Every body key's values; ``columns[k]`` holds plan column k's checked values."""
    leaves: list[Leaf] = []
    for place, spec in enumerate(plan.columns):
        if spec.field in _TRIMMED_FIELDS:
            texts = list(map(str.strip, columns[place]))
            leaves.append(text_leaf((spec.field.value,), texts))
        elif spec.field is Field.NOTE:
            # The note is sent exactly as written; a note of only spaces counts as empty.
            notes = [note if note.strip() else "" for note in columns[place]]
            leaves.append(text_leaf(("note",), notes))
    leaves.extend(_metadata_leaves(plan, columns))
    return leaves


def _bodies(plan: ColumnPlan, columns: Sequence[Sequence[Any]], count: int) -> list[str]:
    """The canonical body of each row; ``columns[k]`` holds plan column k's checked values."""
    return object_texts(_leaves(plan, columns), count)


def _has_json_values(plan: ColumnPlan) -> bool:
    """Whether rows hold parsed JSON (a metadata column or ``:json`` values), which cannot be
    hashed, and whose metadata can be spelled in more than one way."""
    return plan.by_field(Field.METADATA) is not None or any(
        spec.value_type is MetadataType.JSON for spec in plan.metadata_values
    )


def _hash_keys(plan: ColumnPlan, columns: Sequence[Sequence[Any]]) -> Iterator[Any]:
    """Per row a tuple that is equal for rows with equal bodies (and rarely for others too).

    Cheaper than :func:`_row_keys`: text only trimmed, typed values as converted (1 and 1.0 are
    equal here though their JSON differs, which the exact comparison then settles). Only for
    plans without JSON values (see :func:`_has_json_values`).
    """
    hashable: list[Iterable[Any]] = []
    for place, spec in enumerate(plan.columns):
        typed = spec.field is Field.METADATA_VALUE and spec.value_type is not MetadataType.STR
        hashable.append(columns[place] if typed else map(str.strip, columns[place]))
    return zip(*hashable, strict=True)


def _row_keys(plan: ColumnPlan, columns: Sequence[Sequence[Any]]) -> Iterator[Any]:
    """Per row a tuple that equals another row's exactly when their bodies are equal."""
    return zip(*(leaf.values for leaf in _leaves(plan, columns)), strict=True)


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
    if customers_with_keys is not None and sheet.plan.by_field(Field.CUSTOMER_ID) is None:
        raise HeaderError(
            sheet.path,
            "has no customer_id column, but a keys file is in use: each row's customer_id picks "
            "the API key it is sent with. Add the column, or submit without "
            f"{option_name(Option.KEYS_FILE)}.",
        )
    columns = converted_columns(sheet.plan, table.rows)
    schema_issues = check_rows(
        sheet.plan, frame_of(sheet.plan, columns), table.row_numbers, customers_with_keys
    )
    reader_issues = _reader_issues(sheet)
    row_issues: dict[int, tuple[RowIssue, ...]] = {}
    if schema_issues or reader_issues:
        for position, row_number in enumerate(table.row_numbers):
            seen_by_reader = reader_issues.get(row_number, [])
            # A cell the reader already explains (an error, a formula without value) reads as
            # empty: "is empty" on top of "holds the Excel error #N/A" would only mislead.
            explained = {(issue.column or "").strip() for issue in seen_by_reader}
            found = seen_by_reader + [
                issue
                for issue in schema_issues.get(position, [])
                if (issue.column or "").strip() not in explained
            ]
            if found:
                row_issues[position] = tuple(found)
    count = len(table.row_numbers)
    positions_ok = [position for position in range(count) if position not in row_issues]
    checked = CheckedRows(columns, positions_ok)
    occurrences = _find_duplicates(sheet, checked, row_issues, allow_duplicates)
    return ValidationReport(sheet, row_issues, occurrences, checked)


def _row_hashes(plan: ColumnPlan, checked: CheckedRows) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The hash of every passed row's key, in the order of ``checked.positions``."""
    if _has_json_values(plan):
        exact = chain.from_iterable(_row_keys(plan, part) for _, part in checked.batches())
        return np.fromiter(map(hash, exact), np.int64, len(checked.positions))
    # Every row hashed straight from the columns, failed rows too (their hashes are dropped):
    # cheaper than first gathering the passed rows' values.
    count = len(checked.columns[0]) if checked.columns else 0
    slices = (
        [column[start : start + _BODY_BATCH_ROWS] for column in checked.columns]
        for start in range(0, count, _BODY_BATCH_ROWS)
    )
    keys = chain.from_iterable(_hash_keys(plan, part) for part in slices)
    hashes = np.fromiter(map(hash, keys), np.int64, count)
    return hashes[np.asarray(checked.positions, dtype=np.intp)]


def _find_duplicates(
    sheet: RequestSheet,
    checked: CheckedRows,
    row_issues: dict[int, tuple[RowIssue, ...]],
    allow_duplicates: bool,
) -> dict[int, int]:
    """Mark later copies of a body invalid in ``row_issues``, or number them (returned).

    Rows are compared by the hash of their body's values first, and only rows sharing a hash
    by their values themselves: no body text is built, and a hash collision costs nothing but
    a closer look.
    """
    plan = sheet.plan
    hashes = _row_hashes(plan, checked)
    occurrences: dict[int, int] = {}
    values, counts = np.unique(hashes, return_counts=True)
    if len(values) == len(hashes):
        return occurrences
    shared: list[int] = np.flatnonzero(np.isin(hashes, values[counts > 1])).tolist()
    involved = [checked.positions[index] for index in shared]
    first_with_key: dict[Any, int] = {}
    seen: Counter[Any] = Counter()
    row_numbers = sheet.table.row_numbers
    for position, key in zip(involved, _row_keys(plan, checked.picked(involved)), strict=True):
        first = first_with_key.setdefault(key, position)
        if first == position:
            continue
        if allow_duplicates:
            seen[key] += 1
            occurrences[position] = seen[key] + 1
            continue
        first_row = row_numbers[first]
        row_issues[position] = (
            RowIssue(
                row_numbers[position],
                None,
                "duplicate",
                f"duplicate of row {first_row} (the same request); delete one of them, or use "
                f"{option_name(Option.ALLOW_DUPLICATES)} to send both",
            ),
        )
    return occurrences
