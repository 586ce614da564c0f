"""The shape every reader produces: a header row and data rows of exact cell text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


MAPPING_SHEET = "lac-batch columns"
"""The hidden sheet of a results .xlsx that says how each header was read."""
TEMPLATE_EXAMPLE_SHEET = "example"
TEMPLATE_EXAMPLE_TITLE = "Example of one filled-in request."
"""How the template's example sheet begins (lac_batch.files.template writes it)."""

HeaderTest = Callable[[Sequence[str]], bool]
"""Whether a row's cells hold the required columns: the test that finds the header row."""


class FileFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    XLS = "xls"
    ODS = "ods"

    @property
    def is_spreadsheet(self) -> bool:
        return self is not FileFormat.CSV


@dataclass(frozen=True, slots=True)
class CellProblem:
    """Something wrong with a cell that only the reader can see (a formula with no saved value)."""

    row_number: int
    position: int | None
    """0-based column position, or None for the row as a whole."""
    code: str
    message: str


@dataclass
class RawTable:
    """A sheet as a person sees it: ``row_numbers[i]`` is the row Excel would show for row ``i``.

    Every cell is text: CSV cells exactly as in the file, spreadsheet cells converted
    (whole numbers without ``.0``, dates as ``YYYY-MM-DD``, booleans ``true``/``false``). Fully
    empty rows are left out but still count in the numbering. Each row has ``len(headers)`` cells.
    """

    path: Path
    file_format: FileFormat
    headers: list[str]
    rows: list[list[str]]
    row_numbers: list[int]
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    problems: list[CellProblem] = field(default_factory=list)
    header_row: int = 1
    """The header's row number: row 1, or lower when titles stand above it."""
    above: list[list[str]] = field(default_factory=list)
    """The rows above the header (titles, blank rows), kept at the top of the results file."""
    remembered_mapping: list[tuple[str, str]] | None = None
    """A results .xlsx of lac-batch: how the run that wrote it read each header."""
    reading: list[tuple[str, str]] | None = None
    """How each header was read (header, target or "-"), once known: the results .xlsx keeps
    it in a hidden sheet."""
    was_results_file: bool = False
    """The input was a results file of lac-batch; its result block has been dropped."""
    result_block: list[list[str]] | None = None
    """A results file's dropped block, per row its cells in ``result_block_headers`` order."""
    result_block_headers: list[str] = field(default_factory=list)
    lines: list[str] | None = None
    """CSV only: per row, its line as in the file but ending in CRLF, when that one line is the
    whole row with exactly ``len(headers)`` cells; else "". A CSV reader reads such a line back
    as exactly the row's cells, so the results file can copy it instead of quoting each cell."""
