"""Workbooks (.xlsx, .xlsm, .xls, .ods) read with python-calamine, cells turned into exact text.

Calamine reads the value Excel cached for every formula, but an error value (``#N/A``) and a
formula saved without a cached value (files written by scripts, never opened in Excel) both read
as empty, and an .ods duration past a day as ISO 8601 text. So .xlsx/.xlsm and .ods sheets that
hold formulas, errors or durations get one extra pass over their XML
(:mod:`lac_batch.files.workbook_xml`) that reports those cells and reads the durations, and an
.xls sheet one pass with xlrd that finds its error cells (calamine still reads every value).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import xlrd
from python_calamine import CalamineError, CalamineWorkbook

from lac_batch.files.table import (
    MAPPING_SHEET,
    TEMPLATE_EXAMPLE_SHEET,
    TEMPLATE_EXAMPLE_TITLE,
    CellProblem,
    FileFormat,
    HeaderTest,
    RawTable,
)
from lac_batch.files.workbook_xml import (
    ERROR_CODE,
    CellNotes,
    error_message,
    ods_cell_notes,
    xlsx_cell_notes,
)
from lac_batch.model.columns import REQUIRED_FIELDS, normalise_name
from lac_batch.model.errors import InputFileError
from lac_batch.model.mapping import HEADER_SEARCH_ROWS
from lac_batch.model.wording import Option, option_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

# An .xlsx is a zip of XML. A genuine 1,048,576-row sheet stays under this; a decompression bomb
# (a few kB that expand to many GB) does not, and is refused before anything is parsed.
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
# Sheet XML compresses about 10-30x; bombs compress hundreds of times.
MAX_COMPRESSION_RATIO = 200
_RATIO_CHECK_FROM_BYTES = 16 * 1024**2

_FLOAT_AS_INTEGER_LIMIT = 2**53


def _duration_text(duration: dt.timedelta) -> str:
    """``HH:MM:SS`` with every hour counted (``255:10:10``), a fraction to the millisecond."""
    milliseconds = round(duration / dt.timedelta(milliseconds=1))
    sign = "-" if milliseconds < 0 else ""
    hours, rest = divmod(abs(milliseconds), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, fraction = divmod(rest, 1000)
    text = f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{fraction:03d}".rstrip("0") if fraction else text


def excel_cell_text(value: Any) -> str:
    """A cell value as text, the same from every format: ``12345.0`` → ``12345``, dates
    ``YYYY-MM-DD`` (a date-time at midnight too), other date-times ISO 8601, times and durations
    ``HH:MM:SS`` (``255:10:10``), ``true``/``false``."""
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
        # .xlsx and .xls date cells at midnight already read as dates; .ods ones do not.
        if value.time() == dt.time() and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration_text(value)
    if isinstance(value, dt.time):
        return _duration_text(
            dt.timedelta(
                hours=value.hour,
                minutes=value.minute,
                seconds=value.second,
                microseconds=value.microsecond,
            )
        )
    return str(value)


# What an Office or OpenDocument file that is not a workbook is, by its main part's content
# type ([Content_Types].xml) or its ``mimetype`` member; a workbook matches none of these.
_NOT_WORKBOOKS = {
    "wordprocessingml.document": "a Word document",
    "wordprocessingml.template": "a Word template",
    "presentationml.presentation": "a PowerPoint presentation",
    "presentationml.slideshow": "a PowerPoint slide show",
    "presentationml.template": "a PowerPoint template",
    "ms-visio.drawing": "a Visio drawing",
    "opendocument.text": "an OpenDocument text document",
    "opendocument.presentation": "an OpenDocument presentation",
    "opendocument.graphics": "an OpenDocument drawing",
}
# Both parts are a few hundred bytes in real files; reading more would trust the zip too far.
_TYPE_PART_MAX_BYTES = 256 * 1024


def _not_a_workbook(archive: zipfile.ZipFile) -> str | None:
    """What the package is when it is another kind of Office or OpenDocument file, else None."""
    names = set(archive.namelist())
    declared = ""
    for part in ("[Content_Types].xml", "mimetype"):
        if part in names and archive.getinfo(part).file_size <= _TYPE_PART_MAX_BYTES:
            declared += archive.read(part).decode("utf-8", errors="replace")
    if "spreadsheet" in declared:
        return None
    for fragment, what in _NOT_WORKBOOKS.items():
        if fragment in declared:
            return what
    return None


def _check_zip(path: Path, file_format: FileFormat) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            other_kind = _not_a_workbook(archive)
    except zipfile.BadZipFile:
        raise InputFileError(
            path, f"is not a valid .{file_format.value} workbook (the zip container is damaged)."
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
    if other_kind is not None:
        raise InputFileError(
            path, f"is {other_kind}, not a spreadsheet; export the data as .xlsx or .csv."
        )


def _is_panic(error: BaseException) -> bool:
    """pyo3 raises ``pyo3_runtime.PanicException``, a BaseException that no ``except Exception``
    catches and that cannot be imported by name, so it is told by its name."""
    return type(error).__name__ == "PanicException"


def _password_protected(path: Path) -> InputFileError:
    return InputFileError(
        path, "is password-protected; remove the password in Excel and save it again."
    )


def _calamine_problem(
    path: Path, file_format: FileFormat, sheet: str | None, error: BaseException
) -> InputFileError:
    """What a python-calamine failure means to the user: ``sheet`` None while opening."""
    if _is_panic(error):
        # One odd workbook must never end an inbox pass.
        return InputFileError(
            path,
            f"cannot be read: the workbook reader failed inside ({error}). The file is probably "
            "damaged or written by an unusual program; open it in Excel or LibreOffice and save "
            "it again as .xlsx.",
        )
    if sheet is not None:
        return InputFileError(
            path, f"sheet '{sheet}' cannot be read ({error}); save the file again."
        )
    if isinstance(error, CalamineError):
        reason = str(error)
        if "password" in reason.lower() or "encrypt" in reason.lower():
            return _password_protected(path)
        return InputFileError(
            path,
            f"cannot be read as a {file_format.value} workbook ({reason}). Open it in Excel "
            "and save it again as .xlsx.",
        )
    # Calamine raises a handful of other exception types (PasswordError, XmlError, ZipError);
    # all mean a broken file.
    if "password" in type(error).__name__.lower():
        return _password_protected(path)
    return InputFileError(
        path,
        f"cannot be read as a {file_format.value} workbook ({type(error).__name__}: "
        f"{error}). Open it in Excel and save it again as .xlsx.",
    )


@contextmanager
def _calamine_errors(
    path: Path, file_format: FileFormat, sheet: str | None = None
) -> Iterator[None]:
    """The one boundary where python-calamine's failures (its exceptions, and a panic inside
    it) become the file's :class:`InputFileError`: around opening the workbook (``sheet``
    None) and around reading a sheet (``sheet`` names it). Any other BaseException (a stop)
    passes through."""
    try:
        yield
    except BaseException as error:
        if not isinstance(error, Exception) and not _is_panic(error):
            raise
        raise _calamine_problem(path, file_format, sheet, error) from error


def _open_workbook(path: Path, file_format: FileFormat) -> CalamineWorkbook:
    if file_format in (FileFormat.XLSX, FileFormat.ODS):
        # The extra XML pass reads parts whole: a bomb must be refused before it.
        _check_zip(path, file_format)
    with _calamine_errors(path, file_format):
        return CalamineWorkbook.from_path(str(path))


def _row_texts(row: Sequence[Any]) -> list[str]:
    return [excel_cell_text(value) for value in row]


def _has_required_columns(headers: Sequence[str]) -> bool:
    names = {normalise_name(header) for header in headers}
    return all(field.value in names for field in REQUIRED_FIELDS)


def _header_index(
    rows: Sequence[Sequence[Any]], is_header: HeaderTest, header_row: int | None = None
) -> int | None:
    """The 0-based row of the header: ``header_row``, else the first top row that fits."""
    if header_row is not None:
        return header_row - 1
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if is_header(_row_texts(row)):
            return index
    return None


def _is_template_example(name: str, rows: Sequence[Sequence[Any]]) -> bool:
    """The ``example`` sheet of ``lac-batch template``: never read unless asked for by name."""
    first = str(rows[0][0]) if rows and rows[0] else ""
    return name == TEMPLATE_EXAMPLE_SHEET and first.startswith(TEMPLATE_EXAMPLE_TITLE)


def _choose_sheet(
    path: Path,
    workbook: CalamineWorkbook,
    sheet: str | None,
    load: Callable[[str], Any],
    is_header: HeaderTest,
) -> str:
    names = [name for name in workbook.sheet_names if name != MAPPING_SHEET]
    listed = ", ".join(f"'{name}'" for name in names) or "(none)"
    if sheet is not None:
        if sheet not in names:
            raise InputFileError(path, f"has no sheet '{sheet}'. Its sheets are: {listed}.")
        return sheet
    candidates = [name for name in names if not _is_template_example(name, load(name))]
    if len(names) == 1 and candidates:
        return names[0]
    # A sheet with its header in row 1 first; titles above a header only when none has one.
    in_row_one = [name for name in candidates if _header_index(load(name)[:1], is_header) == 0]
    fitting = in_row_one or [
        name for name in candidates if _header_index(load(name), is_header) is not None
    ]
    if len(fitting) == 1:
        return fitting[0]
    reason = "several sheets have" if fitting else "no sheet has"
    raise InputFileError(
        path,
        f"has {len(names)} sheets and {reason} the required columns in their first "
        f"{HEADER_SEARCH_ROWS} rows; choose one with {option_name(Option.SHEET)}. Its sheets "
        f"are: {listed}.",
    )


def _remembered_mapping(workbook: CalamineWorkbook, path: Path) -> list[tuple[str, str]] | None:
    """The hidden sheet a results .xlsx keeps: how its run read each header."""
    if MAPPING_SHEET not in workbook.sheet_names:
        return None
    with _calamine_errors(path, FileFormat.XLSX, MAPPING_SHEET):
        rows = workbook.get_sheet_by_name(MAPPING_SHEET).to_python()
    return [
        (excel_cell_text(row[0]), excel_cell_text(row[1]))
        for row in rows[1:]
        if len(row) >= 2 and excel_cell_text(row[1]).strip()
    ]


@contextmanager
def _xlrd_errors(path: Path, sheet: str) -> Iterator[None]:
    """The one boundary where xlrd's failures become the file's :class:`InputFileError`. Calamine
    has read the file by then, so a failure here is a file only one of the two readers accepts."""
    try:
        yield
    except Exception as error:
        if "encrypt" in str(error).lower():
            raise _password_protected(path) from error
        raise InputFileError(
            path,
            f"sheet '{sheet}' cannot be checked for Excel errors ({type(error).__name__}: "
            f"{error}). Open it in Excel and save it again as .xlsx.",
        ) from error


def _xls_cell_notes(path: Path, sheet: str) -> CellNotes:
    """The error cells (``#N/A``) of the .xls sheet ``sheet``, which calamine reads as empty."""
    notes = CellNotes()
    # on_demand: only the chosen sheet is parsed. xlrd writes its warnings to the logfile, never
    # to the user's output.
    with (
        _xlrd_errors(path, sheet),
        xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO()) as book,
    ):
        worksheet = book.sheet_by_name(sheet)
        for row_index in range(worksheet.nrows):
            kinds = worksheet.row_types(row_index)
            # Most rows hold no error: one C-level search skips them.
            if xlrd.XL_CELL_ERROR not in kinds:
                continue
            for position, kind in enumerate(kinds):
                if kind != xlrd.XL_CELL_ERROR:
                    continue
                code = int(worksheet.cell_value(row_index, position))
                error_text = xlrd.error_text_from_code.get(code, "#VALUE!")
                place = (row_index + 1, position)
                notes.problems.append(CellProblem(*place, ERROR_CODE, error_message(error_text)))
                # An error cell is empty, as in .xlsx: no results file carries a made-up
                # value for it.
                notes.values[place] = ""
    return notes


def _cell_notes(path: Path, file_format: FileFormat, sheet: str) -> CellNotes:
    if file_format is FileFormat.XLSX:
        return xlsx_cell_notes(path, sheet)
    if file_format is FileFormat.ODS:
        return ods_cell_notes(path, sheet)
    if file_format is FileFormat.XLS:
        return _xls_cell_notes(path, sheet)
    return CellNotes()


def _default_header_test(cells: Sequence[str]) -> bool:
    return _has_required_columns(cells)


def read_workbook_table(
    path: Path,
    file_format: FileFormat,
    sheet: str | None,
    is_header: HeaderTest | None = None,
    header_row: int | None = None,
) -> RawTable:
    """Read one sheet of a workbook into a :class:`RawTable` of exact cell text.

    The header is row ``header_row``, else the first of the top rows ``is_header`` accepts,
    else row 1.
    """
    is_header = is_header or _default_header_test
    workbook = _open_workbook(path, file_format)
    loaded: dict[str, list[list[Any]]] = {}

    def load(name: str) -> list[list[Any]]:
        if name not in loaded:
            with _calamine_errors(path, file_format, name):
                # skip_empty_area=False keeps row 1 as row 1 even when the sheet starts lower.
                loaded[name] = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
        return loaded[name]

    try:
        chosen = _choose_sheet(path, workbook, sheet, load, is_header)
        cells = load(chosen)
        remembered = _remembered_mapping(workbook, path)
    finally:
        workbook.close()
    if header_row is not None and header_row > len(cells):
        raise InputFileError(path, f"sheet '{chosen}' has no row {header_row}.")
    skipped = _header_index(cells, is_header, header_row) or 0
    notes = _cell_notes(path, file_format, chosen)
    for (row_number, position), value in notes.values.items():
        if row_number <= len(cells) and position < len(cells[row_number - 1]):
            cells[row_number - 1][position] = value
    # A row whose only cells are errors or formulas without values reads as empty: keep it.
    noted_rows = {problem.row_number for problem in notes.problems}
    # Most cells are text already; only the others need excel_cell_text's call.
    texts_by_row = [
        [value if type(value) is str else excel_cell_text(value) for value in values]
        for values in cells
    ]
    above = [_trimmed(texts) for texts in texts_by_row[:skipped]]
    texts_by_row = texts_by_row[skipped:]
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
    for row_number, texts in enumerate(texts_by_row[1:], start=skipped + 2):
        joined = "".join(texts)
        if row_number not in noted_rows and (not joined or joined.isspace()):
            continue
        rows.append((texts + [""] * width)[:width])
        row_numbers.append(row_number)
    problems = sorted(
        (
            problem
            for problem in notes.problems
            if problem.row_number > skipped + 1
            and problem.position is not None
            and problem.position < width
        ),
        key=lambda problem: (problem.row_number, problem.position),
    )
    return RawTable(
        path=path,
        file_format=file_format,
        headers=headers,
        rows=rows,
        row_numbers=row_numbers,
        sheet=chosen,
        problems=problems,
        header_row=skipped + 1,
        above=above,
        remembered_mapping=remembered,
    )


def _trimmed(texts: list[str]) -> list[str]:
    """A row without its empty cells at the right end."""
    end = len(texts)
    while end and not texts[end - 1].strip():
        end -= 1
    return texts[:end]
