"""Workbooks (.xlsx, .xlsm, .xls, .ods) read with python-calamine, cells turned into exact text.

Calamine reads the value Excel cached for every formula; a formula saved without a cached value
(files written by scripts, never opened in Excel) reads as empty, so .xlsx/.xlsm sheets that hold
formulas get one extra pass over their XML (with defusedxml) to find those cells and report them.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from defusedxml import ElementTree
from python_calamine import CalamineError, CalamineWorkbook

from lac_batch.columns import REQUIRED_FIELDS, normalise_name
from lac_batch.errors import InputFileError
from lac_batch.table import CellProblem, FileFormat, RawTable

__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_UNCOMPRESSED_BYTES",
    "excel_cell_text",
    "read_workbook_table",
]

# An .xlsx is a zip of XML. A genuine 1,048,576-row sheet stays under this; a decompression bomb
# (a few kB that expand to many GB) does not, and is refused before anything is parsed.
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
# Sheet XML compresses about 10-30x; bombs compress hundreds of times.
MAX_COMPRESSION_RATIO = 200
_RATIO_CHECK_FROM_BYTES = 16 * 1024**2

_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CELL_REFERENCE = re.compile(r"([A-Z]+)(\d+)")
_FLOAT_AS_INTEGER_LIMIT = 2**53


def excel_cell_text(value: Any) -> str:
    """A cell value as text: ``12345.0`` → ``12345``, dates ``YYYY-MM-DD``, ``true``/``false``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _FLOAT_AS_INTEGER_LIMIT:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise InputFileError(
            path, "is not a valid .xlsx workbook (the zip container is damaged)."
        ) from None
    total = sum(member.file_size for member in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise InputFileError(
            path,
            f"would expand to {total / 1024**3:.1f} GB, more than the "
            f"{MAX_UNCOMPRESSED_BYTES // 1024**3} GB lac-batch accepts; it is not a normal "
            "workbook. Split it or save it again from Excel.",
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_CHECK_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise InputFileError(
                path,
                f"has a part ({member.filename}) that expands {ratio:.0f} times, which only "
                "decompression bombs do; lac-batch refuses it.",
            )


def _column_position(letters: str) -> int:
    position = 0
    for letter in letters:
        position = position * 26 + (ord(letter) - ord("A") + 1)
    return position - 1


def _sheet_xml_paths(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → path of its XML part inside the archive."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {
        relation.get("Id"): relation.get("Target", "")
        for relation in relations.iter(f"{_PKG_REL_NS}Relationship")
    }
    paths: dict[str, str] = {}
    for sheet in workbook.iter(f"{_MAIN_NS}sheet"):
        target = targets.get(sheet.get(f"{_REL_NS}id"), "")
        if target.startswith("/"):
            paths[sheet.get("name", "")] = target.lstrip("/")
        else:
            paths[sheet.get("name", "")] = str(PurePosixPath("xl") / target)
    return paths


def _formulas_without_value(path: Path, sheet_name: str) -> Iterator[tuple[int, int]]:
    """(row number, 0-based column) of each formula cell saved with no cached value."""
    with zipfile.ZipFile(path) as archive:
        part = _sheet_xml_paths(archive).get(sheet_name)
        if part is None or part not in archive.namelist():
            return
        with archive.open(part) as stream:
            if b"<f" not in stream.read():
                return
        with archive.open(part) as stream:
            for _event, element in ElementTree.iterparse(stream, events=("end",)):
                if element.tag != f"{_MAIN_NS}c":
                    continue
                formula = element.find(f"{_MAIN_NS}f")
                value = element.find(f"{_MAIN_NS}v")
                if formula is not None and (value is None or not (value.text or "")):
                    match = _CELL_REFERENCE.fullmatch(element.get("r", ""))
                    if match:
                        yield int(match.group(2)), _column_position(match.group(1))
                element.clear()


def _open_workbook(path: Path, file_format: FileFormat) -> CalamineWorkbook:
    if file_format is FileFormat.XLSX:
        _check_zip(path)
    try:
        return CalamineWorkbook.from_path(str(path))
    except CalamineError as error:
        reason = str(error)
        if "password" in reason.lower() or "encrypt" in reason.lower():
            raise InputFileError(
                path, "is password-protected; remove the password in Excel and save it again."
            ) from None
        raise InputFileError(
            path,
            f"cannot be read as a {file_format.value} workbook ({reason}). Open it in Excel "
            "and save it again as .xlsx.",
        ) from None
    except Exception as error:
        # Calamine raises a handful of exception types (PasswordError, XmlError, ZipError,
        # panics surfaced as BaseException subclasses are not caught); all mean a broken file.
        if "password" in type(error).__name__.lower():
            raise InputFileError(
                path, "is password-protected; remove the password in Excel and save it again."
            ) from None
        raise InputFileError(
            path,
            f"cannot be read as a {file_format.value} workbook ({type(error).__name__}: "
            f"{error}). Open it in Excel and save it again as .xlsx.",
        ) from None


def _header_cells(rows: Sequence[Sequence[Any]]) -> list[str]:
    return [excel_cell_text(value) for value in rows[0]] if rows else []


def _has_required_columns(headers: Sequence[str]) -> bool:
    names = {normalise_name(header) for header in headers}
    return all(field.value in names for field in REQUIRED_FIELDS)


def _choose_sheet(
    path: Path, workbook: CalamineWorkbook, sheet: str | None, load: Callable[[str], Any]
) -> str:
    names: list[str] = list(workbook.sheet_names)
    listed = ", ".join(f"'{name}'" for name in names) or "(none)"
    if sheet is not None:
        if sheet not in names:
            raise InputFileError(path, f"has no sheet '{sheet}'. Its sheets are: {listed}.")
        return sheet
    if len(names) == 1:
        return names[0]
    fitting = [name for name in names if _has_required_columns(_header_cells(load(name)))]
    if len(fitting) == 1:
        return fitting[0]
    reason = "several sheets have" if fitting else "no sheet has"
    raise InputFileError(
        path,
        f"has {len(names)} sheets and {reason} the required columns in row 1; choose one with "
        f"--sheet. Its sheets are: {listed}.",
    )


def read_workbook_table(path: Path, file_format: FileFormat, sheet: str | None) -> RawTable:
    """Read one sheet of a workbook into a :class:`RawTable` of exact cell text."""
    workbook = _open_workbook(path, file_format)
    loaded: dict[str, list[list[Any]]] = {}

    def load(name: str) -> list[list[Any]]:
        if name not in loaded:
            try:
                # skip_empty_area=False keeps row 1 as row 1 even when the sheet starts lower.
                loaded[name] = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
            except Exception as error:
                raise InputFileError(
                    path, f"sheet '{name}' cannot be read ({error}); save the file again."
                ) from None
        return loaded[name]

    try:
        chosen = _choose_sheet(path, workbook, sheet, load)
        cells = load(chosen)
    finally:
        workbook.close()
    formula_cells: set[tuple[int, int]] = set()
    if file_format is FileFormat.XLSX:
        formula_cells = set(_formulas_without_value(path, chosen))
    formula_rows = {row_number for row_number, _position in formula_cells}
    # Most cells are text already; only the others need excel_cell_text's call.
    texts_by_row = [
        [value if type(value) is str else excel_cell_text(value) for value in values]
        for values in cells
    ]
    headers = texts_by_row[0] if texts_by_row else []
    # Sheets often report a used range far wider than the data (formatting); keep the columns up
    # to the last one with a header or a value. Only cells right of the widest so far can widen.
    width = 0
    for texts in texts_by_row:
        for position in range(len(texts) - 1, width - 1, -1):
            if texts[position].strip():
                width = position + 1
                break
    headers = (headers + [""] * width)[:width]
    rows: list[list[str]] = []
    row_numbers: list[int] = []
    for row_number, texts in enumerate(texts_by_row[1:], start=2):
        joined = "".join(texts)
        if row_number not in formula_rows and (not joined or joined.isspace()):
            continue
        rows.append((texts + [""] * width)[:width])
        row_numbers.append(row_number)
    problems = [
        CellProblem(
            row_number,
            position,
            "formula_without_value",
            "is a formula with no saved value; open the file in Excel and save it, or paste "
            "the values instead of the formula",
        )
        for row_number, position in sorted(formula_cells)
        if row_number > 1 and position < width
    ]
    return RawTable(
        path=path,
        file_format=file_format,
        headers=headers,
        rows=rows,
        row_numbers=row_numbers,
        sheet=chosen,
        problems=problems,
    )
