"""What python-calamine does not tell about a sheet, read from the workbook's own XML.

Calamine reads an error cell (``#N/A``) as an empty cell, a formula saved without a value as
empty too, and an .ods duration longer than a day as its ISO 8601 text. This module finds those
cells: :func:`xlsx_cell_notes` in an .xlsx/.xlsm sheet part (located through the package's
relationships, as any OPC reader must), :func:`ods_cell_notes` in an .ods ``content.xml``.
A sheet whose XML needs no look (no formula, no error, no duration) is only searched as bytes.
Any failure here is an :class:`~lac_batch.model.errors.InputFileError`: never a traceback.
"""

from __future__ import annotations

import datetime as dt
import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from defusedxml import ElementTree

from lac_batch.files.table import CellProblem
from lac_batch.model.errors import InputFileError

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_CELL_REFERENCE = re.compile(r"([A-Z]+)(\d+)")
# Only a sheet holding one of these (a formula element with or without a namespace prefix, an
# error cell's t="e") is parsed. Plain substring searches: a regex took ~17 times longer on a
# large sheet, whose XML is mostly neither.
_XLSX_MARKERS = (b"<f", b":f>", b":f ", b'"e"', b"'e'")
_ODS_MARKERS = (b'value-type="error"', b"value-type='error'", b"time-value")
_CALCEXT_NS = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_FALLBACK_WORKBOOK_PART = "xl/workbook.xml"
# Spreadsheet limits: a repeated .ods row or cell never stands for more than a sheet holds.
_MAX_ROWS = 1_048_576
_MAX_COLUMNS = 16_384

ERROR_CODE = "excel_error"
FORMULA_WITHOUT_VALUE_CODE = "formula_without_value"
_FORMULA_WITHOUT_VALUE_MESSAGE = (
    "is a formula with no saved value; open the file in Excel and save it, or paste the values "
    "instead of the formula"
)


def error_message(error_text: str) -> str:
    return f"holds the Excel error {error_text}: fix the formula"


@dataclass
class CellNotes:
    """Per cell (spreadsheet row number, 0-based column): what the reader must add."""

    problems: list[CellProblem] = field(default_factory=list)
    values: dict[tuple[int, int], Any] = field(default_factory=dict)
    """Values that replace calamine's reading of a cell (an .ods duration as a timedelta)."""


class _PackageError(Exception):
    """The package's XML or relationships cannot be followed; the message says where."""


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def _attribute(element: Any, local_name: str, namespace_hint: str = "") -> str | None:
    """An attribute by its local name, whatever prefix or namespace (transitional, strict)."""
    for key, value in element.attrib.items():
        namespace, _, name = key.rpartition("}")
        if name == local_name and namespace_hint in namespace:
            return str(value)
    return None


def _column_position(letters: str) -> int:
    position = 0
    for letter in letters:
        position = position * 26 + (ord(letter) - ord("A") + 1)
    return position - 1


class _Package:
    """An OPC package (.xlsx): parts by name, whatever case or separator the writer used."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        # Part names are case-insensitive (OPC); some Windows writers store "xl\workbook.xml".
        self._entries = {
            info.filename.replace("\\", "/").lstrip("/").casefold(): info
            for info in archive.infolist()
        }

    def has(self, part: str) -> bool:
        return part.casefold() in self._entries

    def read(self, part: str) -> bytes:
        info = self._entries.get(part.casefold())
        if info is None:
            raise _PackageError(f"its part '{part}' is missing")
        return self._archive.read(info)

    def xml(self, part: str) -> Any:
        try:
            return ElementTree.fromstring(self.read(part))
        except _PackageError:
            raise
        except Exception as error:
            raise _PackageError(f"its part '{part}' is not readable XML ({error})") from None

    def relationships(self, source_part: str) -> dict[str, tuple[str, str]]:
        """Relationship Id → (type, target part) of ``source_part`` ("" for the package)."""
        folder, name = posixpath.split(source_part)
        rels_part = posixpath.join(folder, "_rels", f"{name}.rels")
        if not self.has(rels_part):
            return {}
        relations: dict[str, tuple[str, str]] = {}
        for relation in self.xml(rels_part).iter():
            if _local(relation.tag) != "Relationship" or relation.get("TargetMode") == "External":
                continue
            target = unquote(relation.get("Target", "")).replace("\\", "/")
            if target.startswith("/"):
                resolved = target.lstrip("/")
            else:
                resolved = posixpath.join(folder, target)
            relations[relation.get("Id", "")] = (
                relation.get("Type", ""),
                posixpath.normpath(resolved).lstrip("/"),
            )
        return relations

    def workbook_part(self) -> str:
        for kind, target in self.relationships("").values():
            if kind.endswith("/officeDocument"):
                return target
        return _FALLBACK_WORKBOOK_PART

    def sheet_part(self, sheet_name: str) -> str | None:
        workbook_part = self.workbook_part()
        targets = self.relationships(workbook_part)
        for sheet in self.xml(workbook_part).iter():
            if _local(sheet.tag) == "sheet" and sheet.get("name") == sheet_name:
                relation = targets.get(_attribute(sheet, "id", "relationships") or "")
                return relation[1] if relation else None
        return None


def _xlsx_cells(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(row number, 0-based column, element) of every cell; a missing ``r`` counts on."""
    row_number = 0
    column = -1
    for event, element in ElementTree.iterparse(io.BytesIO(data), events=("start", "end")):
        name = _local(element.tag)
        if event == "start":
            if name == "row":
                reference = element.get("r", "")
                row_number = int(reference) if reference.isdigit() else row_number + 1
                column = -1
            elif name == "c":
                match = _CELL_REFERENCE.fullmatch(element.get("r", ""))
                if match:
                    row_number, column = int(match.group(2)), _column_position(match.group(1))
                else:
                    column += 1
        elif name == "c":
            yield row_number, column, element
            element.clear()
        elif name == "row":
            element.clear()


def _xlsx_sheet_notes(data: bytes) -> CellNotes:
    notes = CellNotes()
    for row_number, column, cell in _xlsx_cells(data):
        children = {_local(child.tag): child for child in cell}
        formula, value = children.get("f"), children.get("v")
        if cell.get("t") == "e":
            error_text = (value.text or "").strip() if value is not None else ""
            notes.problems.append(
                CellProblem(row_number, column, ERROR_CODE, error_message(error_text or "#N/A"))
            )
        elif formula is not None and (value is None or not (value.text or "")):
            # A text formula whose saved value is "" keeps an empty <v/>: that is a value.
            if cell.get("t") == "str" and value is not None:
                continue
            notes.problems.append(
                CellProblem(
                    row_number, column, FORMULA_WITHOUT_VALUE_CODE, _FORMULA_WITHOUT_VALUE_MESSAGE
                )
            )
    return notes


def _unreadable(path: Path, reason: str) -> InputFileError:
    return InputFileError(
        path,
        f"cannot be read as a workbook: {reason}. Open it in Excel or LibreOffice and save it "
        "again as .xlsx.",
    )


@contextmanager
def _reading(path: Path, sheet_name: str) -> Iterator[None]:
    """The one boundary of this source (the workbook's zip and XML, read here, not by
    calamine): every failure of a pass, as the one-paragraph error of an unreadable file."""
    try:
        yield
    except _PackageError as error:
        raise _unreadable(path, str(error)) from error
    except Exception as error:
        # defusedxml refusing an entity, a damaged zip entry, a malformed number: all one thing
        # to the user, a sheet lac-batch cannot check for errors and formulas without values.
        raise _unreadable(
            path, f"sheet '{sheet_name}' has XML lac-batch cannot check ({type(error).__name__})"
        ) from error


def xlsx_cell_notes(path: Path, sheet_name: str) -> CellNotes:
    """Error cells and formulas saved without a value in the sheet ``sheet_name``."""
    with _reading(path, sheet_name):
        with zipfile.ZipFile(path) as archive:
            package = _Package(archive)
            part = package.sheet_part(sheet_name)
            if part is None or not package.has(part):
                raise _PackageError(f"the XML part of sheet '{sheet_name}' cannot be found")
            data = package.read(part)
        if not any(marker in data for marker in _XLSX_MARKERS):
            return CellNotes()
        return _xlsx_sheet_notes(data)


_ISO_DURATION = re.compile(
    r"(-)?P(?:(\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?"
)


def parse_iso_duration(text: str) -> dt.timedelta | None:
    """An ISO 8601 duration of days, hours, minutes and seconds (``PT255H10M10S``), or None.

    Years and months have no fixed length, so a duration with them is None.
    """
    match = _ISO_DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()[1:]):
        return None
    sign, *parts = match.groups()
    try:
        days, hours, minutes, seconds = (Decimal((part or "0").replace(",", ".")) for part in parts)
    except InvalidOperation:
        return None
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    microseconds = int((total * 1_000_000).to_integral_value())
    return dt.timedelta(microseconds=-microseconds if sign else microseconds)


def _ods_sheet_notes(data: bytes, sheet_name: str) -> CellNotes:
    notes = CellNotes()
    depth = 0  # table:table elements open inside the wanted sheet (nested ones included)
    row_number = 0
    rows_repeated = 1
    column = 0
    for event, element in ElementTree.iterparse(io.BytesIO(data), events=("start", "end")):
        name = _local(element.tag)
        if name == "table":
            if event == "start" and (depth or _attribute(element, "name") == sheet_name):
                depth += 1
            elif event == "end" and depth:
                depth -= 1
                if not depth:
                    break
            continue
        if not depth:
            continue
        if name == "table-row":
            if event == "start":
                row_number += 1
                column = 0
                repeated = _attribute(element, "number-rows-repeated") or "1"
                rows_repeated = min(int(repeated), _MAX_ROWS) if repeated.isdigit() else 1
            else:
                row_number += rows_repeated - 1
                element.clear()
        elif name in ("table-cell", "covered-table-cell") and event == "end":
            repeated = _attribute(element, "number-columns-repeated") or "1"
            columns = min(int(repeated), _MAX_COLUMNS) if repeated.isdigit() else 1
            _note_ods_cell(notes, element, row_number, rows_repeated, column, columns)
            column += columns
    return notes


def _note_ods_cell(
    notes: CellNotes, cell: Any, row_number: int, rows: int, column: int, columns: int
) -> None:
    # Built only for the cells noted: LibreOffice writes the empty rest of a sheet as one row
    # repeated a million times of one cell repeated 16,384 times, which no list could hold.
    def places() -> list[tuple[int, int]]:
        return [
            (row, position)
            for row in range(row_number, row_number + rows)
            for position in range(column, column + columns)
        ]

    if _attribute(cell, "value-type", _CALCEXT_NS) == "error":
        shown = "".join(cell.itertext()).strip() or "#VALUE!"
        notes.problems.extend(
            CellProblem(row, position, ERROR_CODE, error_message(shown))
            for row, position in places()
        )
        # Calamine reads some of these as the 0 LibreOffice stores beside the error; an error
        # cell is empty, as in .xlsx, so no results file ever carries a made-up value.
        notes.values.update(dict.fromkeys(places(), ""))
    elif _attribute(cell, "value-type", _OFFICE_NS) == "time":
        duration = parse_iso_duration(_attribute(cell, "time-value", _OFFICE_NS) or "")
        if duration is not None:
            notes.values.update(dict.fromkeys(places(), duration))


def ods_cell_notes(path: Path, sheet_name: str) -> CellNotes:
    """Error cells and durations (time cells) of the sheet ``sheet_name`` of an .ods file."""
    with _reading(path, sheet_name):
        with zipfile.ZipFile(path) as archive:
            data = _Package(archive).read("content.xml")
        if not any(marker in data for marker in _ODS_MARKERS):
            return CellNotes()
        return _ods_sheet_notes(data, sheet_name)
