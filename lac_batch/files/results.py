"""The results file: one line per input row, a result block first, then the original columns.

Every command writes the same file. A results file given back as input reads as exactly its
original rows (see :func:`strip_result_block`), so a person can fix invalid rows in it and run it
again; its block is kept beside the rows (:func:`earlier_results`), so that what it says was
sent is never sent again (see :mod:`lac_batch.ledger.plan`).
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import platformdirs
from python_calamine import CalamineError, CalamineWorkbook

from lac_batch.files.csv_writer import unescape_csv_cell, write_csv
from lac_batch.files.gc_pause import collector_paused
from lac_batch.files.inbox import unique_path
from lac_batch.files.modes import create_people_temporary
from lac_batch.files.table import MAPPING_SHEET, FileFormat, RawTable
from lac_batch.files.xlsx_writer import SheetExtras, write_sheet
from lac_batch.model.errors import ResultsPathError, UsageError
from lac_batch.model.mapping import HEADER_SEARCH_ROWS
from lac_batch.model.status import RESULT_COLUMNS, ResultBlock, RowResult, Status
from lac_batch.model.wording import Option, option_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_OLDER_BLOCK = RESULT_COLUMNS[:6]
"""The block written before ``sent_to`` existed: still read back as a block."""

_SENT_STATUSES = frozenset(
    {Status.ACCEPTED, Status.SKIPPED, Status.REJECTED, Status.FAILED, Status.UNKNOWN}
)
"""Statuses that tell of a request that reached (or may have reached) the API."""
_SENT_AT = " at "
_SENT_AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_CSV_SUFFIXES = {".csv": ".csv", ".tsv": ".tsv", ".txt": ".csv"}
_NUMBERED_RESULTS = re.compile(r"(?P<base>.+)\.results(?:\.(?P<number>\d+))?")
_MAX_WIDTH_SAMPLE_ROWS = 500
_MAX_COLUMN_WIDTH = 60


@dataclass(frozen=True, slots=True)
class SentTo:
    """The ``sent_to`` cell: ``ACCOUNT@HOST at YYYY-MM-DDTHH:MM:SSZ``.

    ``where`` (account and the base URL's host) says whether a results file belongs to the run
    that reads it; ``at`` (when that run started, UTC) orders its outcomes against the ledger's.
    The '@', the spaces and the letters keep a spreadsheet program from reading it as a number
    or a date (checked with LibreOffice Calc: it saves the cell back unchanged).
    """

    where: str
    at: datetime | None = None

    @staticmethod
    def where_of(host: str, account: str) -> str:
        return f"{account}@{host}"

    def text(self) -> str:
        if self.at is None:
            return self.where
        return f"{self.where}{_SENT_AT}{self.at.astimezone(UTC).strftime(_SENT_AT_FORMAT)}"

    @classmethod
    def parse(cls, text: str) -> SentTo | None:
        """The cell as written (None when empty); a time that does not parse is left out."""
        text = text.strip()
        if not text:
            return None
        where, _, when = text.rpartition(_SENT_AT)
        if not where:
            return cls(text)
        try:
            at = datetime.strptime(when.strip(), _SENT_AT_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return cls(text)
        return cls(where, at)


@dataclass(frozen=True, slots=True)
class EarlierResult:
    """One row's block in a results file given back as input: what an earlier run said of it."""

    status: Status | None
    """None when the cell is empty or not a status (a person emptied or changed it)."""
    event_id: str = ""
    sent_to: SentTo | None = None


def _status_of(cell: str) -> Status | None:
    try:
        return Status(cell.strip().casefold())
    except ValueError:
        return None


def earlier_results(table: RawTable) -> list[EarlierResult] | None:
    """Per row of a results file given back as input, its earlier block; None for other files."""
    if table.result_block is None:
        return None
    names = [name.strip().casefold() for name in table.result_block_headers]
    status_at, event_at = names.index("status"), names.index("event_id")
    sent_at = names.index("sent_to") if "sent_to" in names else None
    return [
        EarlierResult(
            _status_of(cells[status_at]),
            cells[event_at].strip(),
            SentTo.parse(cells[sent_at]) if sent_at is not None else None,
        )
        for cells in table.result_block
    ]


@dataclass(frozen=True, slots=True)
class ResultsWritten:
    path: Path
    fallback_reason: str | None = None
    """Set when the results went to a timestamped name because the asked-for one failed."""
    in_fallback_folder: bool = False
    """The results went to :func:`results_fallback_folder`: not even beside the asked-for name."""


def results_fallback_folder() -> Path:
    """``<user state dir>/lac-batch/results-fallback``: where results go when their folder fails.

    Beside the default ledger (``~/.local/state/lac-batch/`` on Linux, ``%LOCALAPPDATA%`` on
    Windows), created on first use.
    """
    return platformdirs.user_state_path("lac-batch", appauthor=False) / "results-fallback"


def strip_result_block(table: RawTable) -> RawTable:
    """If ``table`` is a results file, drop its leading result block and CSV apostrophes.

    A user's own ``Status`` column further right stays: only the exact leading block is dropped
    (with ``sent_to``, or without it as older versions wrote it). The block's cells are kept in
    ``table.result_block``.
    """
    block = _block_width(table.headers)
    if block == 0:
        return table
    unescape = table.file_format is FileFormat.CSV
    table.result_block_headers = table.headers[:block]
    table.result_block = [row[:block] for row in table.rows]
    rows = [
        [unescape_csv_cell(cell) for cell in row[block:]] if unescape else row[block:]
        for row in table.rows
    ]
    table.headers = [
        unescape_csv_cell(header) if unescape else header for header in table.headers[block:]
    ]
    table.rows = rows
    table.lines = None  # the lines hold the result block and the writer's apostrophes
    table.problems = [
        problem
        if problem.position is None
        else type(problem)(
            problem.row_number, problem.position - block, problem.code, problem.message
        )
        for problem in table.problems
        if problem.position is None or problem.position >= block
    ]
    table.was_results_file = True
    return table


def _block_width(headers: Sequence[str]) -> int:
    """How many leading columns are a result block (0: not a results file)."""
    leading = tuple(header.strip().casefold() for header in headers[: len(RESULT_COLUMNS)])
    if leading == RESULT_COLUMNS:
        return len(RESULT_COLUMNS)
    if leading[: len(_OLDER_BLOCK)] == _OLDER_BLOCK:
        return len(_OLDER_BLOCK)
    return 0


def _results_suffix(input_path: Path, file_format: FileFormat) -> str:
    if file_format.is_spreadsheet:
        return ".xlsx"
    return _CSV_SUFFIXES.get(input_path.suffix.lower(), ".csv")


def default_results_path(input_path: Path, file_format: FileFormat) -> Path:
    """``<stem>.results.<ext>`` beside the input; a results file as input gets a numbered name.

    ``orders.csv`` → ``orders.results.csv``; ``orders.results.csv`` → ``orders.results.2.csv``
    (or the next number that is free), so names never stack and the input is never overwritten.
    """
    suffix = _results_suffix(input_path, file_format)
    named = _NUMBERED_RESULTS.fullmatch(input_path.stem)
    if named is None:
        return input_path.with_name(f"{input_path.stem}.results{suffix}")
    return _next_numbered(
        input_path.with_name(f"{named.group('base')}.results{suffix}"), input_path
    )


def _next_numbered(results_path: Path, avoid: Path | None = None) -> Path:
    """``<base>.results.<N>.<ext>`` for the first N from 2 that names no file (nor ``avoid``)."""
    named = _NUMBERED_RESULTS.fullmatch(results_path.stem)
    base = named.group("base") if named is not None else results_path.stem
    avoided = avoid.resolve() if avoid is not None else None
    number = 2
    while True:
        candidate = results_path.with_name(f"{base}.results.{number}{results_path.suffix}")
        if not candidate.exists() and candidate.resolve() != avoided:
            return candidate
        number += 1


def kept_results_path(results_path: Path) -> Path:
    """``results_path``, unless it is a results file that records sent rows: then the next free
    numbered name, so that no command ever overwrites what a run said was sent."""
    if not records_sent_rows(results_path):
        return results_path
    return _next_numbered(results_path)


def records_sent_rows(path: Path) -> bool:
    """Whether ``path`` is a results file with a row whose status tells of a request sent.

    Reads only as far as the first such row. A file that cannot be read as a results file does
    not count (writing over it is the same as before).
    """
    try:
        if not path.is_file():
            return False
        if path.suffix.lower() == ".xlsx":
            return _any_sent_status(_xlsx_rows(path))
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
            head = stream.readline()
            delimiter = max(",;\t", key=head.count)
            stream.seek(0)
            return _any_sent_status(csv.reader(stream, delimiter=delimiter))
    except (OSError, csv.Error, CalamineError, ValueError):
        return False


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    workbook = CalamineWorkbook.from_path(str(path))
    for row in workbook.get_sheet_by_index(0).iter_rows():
        yield [str(cell) for cell in row]


def _any_sent_status(rows: Iterator[list[str]]) -> bool:
    # Titles may stand above the header (kept from the input): the header is found below them.
    for header in islice(rows, HEADER_SEARCH_ROWS):
        if _block_width(header):
            break
    else:
        return False
    return any(len(row) > 1 and _status_of(row[1]) in _SENT_STATUSES for row in rows)


def check_results_path(results_path: Path, input_path: Path) -> None:
    """Fail before any work if the results cannot be written there (exit 2, nothing sent)."""
    if results_path.resolve() == input_path.resolve():
        raise UsageError(
            f"{results_path}: the results file would overwrite the input; choose another "
            f"{option_name(Option.RESULTS)} path."
        )
    if results_path.suffix.lower() not in {".csv", ".tsv", ".txt", ".xlsx"}:
        raise UsageError(f"{results_path}: a results file must end in .csv, .tsv, .txt or .xlsx.")
    folder = results_path.parent
    if not folder.is_dir():
        raise ResultsPathError(
            f"{results_path}: the folder {folder} does not exist; create it or choose another "
            f"{option_name(Option.RESULTS)} path."
        )
    if results_path.is_dir():
        raise ResultsPathError(
            f"{results_path}: is a folder; give a file name for {option_name(Option.RESULTS)}."
        )
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".lac-batch-check-"):
            pass
    except OSError as error:
        raise ResultsPathError(
            f"{results_path}: cannot write in {folder} ({error.strerror or error}); choose "
            f"another {option_name(Option.RESULTS)} path."
        ) from None
    if results_path.exists() and not os.access(results_path, os.W_OK):
        raise ResultsPathError(
            f"{results_path}: exists and cannot be overwritten (read-only); choose another "
            f"{option_name(Option.RESULTS)} path."
        )


def _column_widths(table: RawTable, blocks: Sequence[ResultBlock]) -> list[int]:
    headers = [*RESULT_COLUMNS, *table.headers]
    widths = [len(header) for header in headers]
    sample = islice(zip(blocks, table.rows, strict=False), _MAX_WIDTH_SAMPLE_ROWS)
    for block, cells in sample:
        for position, value in enumerate([*block, *cells]):
            longest_line = max((len(line) for line in str(value).splitlines()), default=0)
            widths[position] = max(widths[position], longest_line)
    return [min(width + 2, _MAX_COLUMN_WIDTH) for width in widths]


_MAPPING_HEADERS = ("header", "read as")


def _write_xlsx(path: Path, table: RawTable, blocks: Sequence[ResultBlock]) -> None:
    # Text cells stay text (never formulas); row, http_status and attempts are numbers.
    # The hidden sheet says how each header was read, so the file fed back is read the same.
    mapping = [[source, target] for source, target in table.reading or ()]
    write_sheet(
        path,
        [*RESULT_COLUMNS, *table.headers],
        lambda: ([*block, *cells] for block, cells in zip(blocks, table.rows, strict=True)),
        len(blocks),
        _column_widths(table, blocks),
        SheetExtras(table.above, MAPPING_SHEET, [list(_MAPPING_HEADERS), *mapping]),
    )


def _write_atomically(path: Path, table: RawTable, blocks: Sequence[ResultBlock]) -> None:
    handle, temporary = create_people_temporary(path)
    try:
        if path.suffix.lower() == ".xlsx":
            os.close(handle)
            _write_xlsx(temporary, table, blocks)
        else:
            delimiter = table.delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
            # UTF-8 with a byte-order mark, so Excel shows ä and ö instead of mojibake.
            with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as stream:
                write_csv(stream, [*RESULT_COLUMNS, *table.headers], table, blocks, delimiter)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def write_results(path: Path, table: RawTable, results: Sequence[RowResult]) -> ResultsWritten:
    """Write ``results`` (one per row of ``table``, same order) atomically to ``path``.

    If the final write fails (on Windows: the file is open in Excel), the results go to a
    timestamped name beside it; if that fails too (a full disk, a read-only folder), to a
    timestamped name in :func:`results_fallback_folder`; the returned value says which.
    :class:`ResultsPathError` when none of them could be written.
    """
    return write_result_blocks(path, table, [result.cells() for result in results])


def write_result_blocks(
    path: Path, table: RawTable, blocks: Sequence[ResultBlock]
) -> ResultsWritten:
    """:func:`write_results` from each row's result cells, for callers that have those already."""
    if len(blocks) != len(table.rows):
        raise ValueError(f"{len(blocks)} results for {len(table.rows)} rows")
    with collector_paused():
        return _write_or_fall_back(path, table, blocks)


def _write_or_fall_back(
    path: Path, table: RawTable, blocks: Sequence[ResultBlock]
) -> ResultsWritten:
    try:
        _write_atomically(path, table, blocks)
        return ResultsWritten(path)
    except OSError as error:
        first_error = _reason(error)
    name = f"{path.stem}.{datetime.now().strftime('%Y%m%dT%H%M%S')}{path.suffix}"
    beside = path.with_name(name)
    try:
        _write_atomically(beside, table, blocks)
        return ResultsWritten(beside, f"{path} could not be written ({first_error})")
    except OSError as error:
        beside_error = _reason(error)
    folder = results_fallback_folder()
    elsewhere = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        elsewhere = unique_path(elsewhere)
        _write_atomically(elsewhere, table, blocks)
    except OSError as error:
        raise ResultsPathError(
            f"{path}: the results could not be written ({first_error}), nor to {beside} "
            f"({beside_error}), nor to {elsewhere} ({_reason(error)})."
        ) from None
    return ResultsWritten(
        elsewhere,
        f"{path} could not be written ({first_error}), nor {beside} ({beside_error})",
        in_fallback_folder=True,
    )


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
