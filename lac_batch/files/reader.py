"""Files → :class:`~lac_batch.files.table.RawTable`: picks the reader by extension and content.

Every way a file can be unusable (missing, unreadable, empty, header only, the wrong kind of file
under a spreadsheet name) ends in :class:`~lac_batch.model.errors.InputFileError`, never a
traceback.
"""

from __future__ import annotations

from pathlib import Path

from lac_batch.files.csv_reader import read_csv_table
from lac_batch.files.excel_reader import read_workbook_table
from lac_batch.files.gc_pause import collector_paused
from lac_batch.files.results import strip_result_block
from lac_batch.files.table import FileFormat, HeaderTest, RawTable
from lac_batch.model.errors import InputFileError, UsageError
from lac_batch.model.stopping import abandonable
from lac_batch.model.wording import Option, option_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

SUFFIX_FORMATS = {
    ".csv": FileFormat.CSV,
    ".tsv": FileFormat.CSV,
    ".txt": FileFormat.CSV,
    ".xlsx": FileFormat.XLSX,
    ".xlsm": FileFormat.XLSX,
    ".xls": FileFormat.XLS,
    ".ods": FileFormat.ODS,
}

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OTHER_MAGIC = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
}


def _identify_content(path: Path, head: bytes, file_format: FileFormat) -> None:
    """Refuse content that is not what the extension promises, with a message that says so."""
    for magic, what in _OTHER_MAGIC.items():
        if head.startswith(magic):
            raise InputFileError(
                path, f"is {what}, not a spreadsheet; export the data as .xlsx or .csv."
            )
    if file_format is FileFormat.XLSX:
        if head.startswith(_OLE_MAGIC):
            # An encrypted .xlsx is stored inside an OLE container; so is an old .xls renamed.
            raise InputFileError(
                path,
                "is password-protected (or an old .xls renamed to .xlsx); remove the password "
                "in Excel, or save it again as .xlsx.",
            )
        if not head.startswith(_ZIP_MAGIC):
            raise InputFileError(
                path, "is not an Excel workbook (.xlsx files are zip archives); save it as .xlsx."
            )
    if file_format is FileFormat.CSV and head.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        raise InputFileError(
            path,
            "is a workbook saved under a text-file name; rename it to .xlsx (or .xls), or save "
            "it as CSV from Excel.",
        )


def _file_format(path: Path) -> FileFormat:
    file_format = SUFFIX_FORMATS.get(path.suffix.lower())
    if file_format is None:
        supported = ", ".join(SUFFIX_FORMATS)
        raise InputFileError(
            path, f"has an extension lac-batch does not read; use one of {supported}."
        )
    return file_format


def _check_reading_options(
    path: Path,
    file_format: FileFormat,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
) -> None:
    """Options that do not fit the kind of file: the user's command is wrong, not the file (a
    UsageError ends an inbox pass with the file left in the inbox, never moved to failed/)."""
    if file_format is FileFormat.CSV:
        if sheet is not None:
            raise UsageError(
                f"{path}: is a text file; {option_name(Option.SHEET)} applies to workbooks only."
            )
        if delimiter is not None and len(delimiter) != 1:
            raise UsageError(
                f"{path}: {option_name(Option.DELIMITER)} must be one character, not {delimiter!r}."
            )
    elif encoding is not None or delimiter is not None:
        raise UsageError(
            f"{path}: is a workbook; {option_name(Option.ENCODING)} and "
            f"{option_name(Option.DELIMITER)} apply to CSV files only."
        )


def read_table(
    path: Path | str,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    is_header: HeaderTest | None = None,
    header_row: int | None = None,
) -> RawTable:
    """Read the header row and data rows of ``path`` as exact cell text.

    The header is row ``header_row`` when given, else the first of the top
    :data:`~lac_batch.model.mapping.HEADER_SEARCH_ROWS` rows that ``is_header`` accepts (row 1
    when none does); the rows above it are kept in ``above``.

    A results file of lac-batch reads as its original rows (its result block is dropped).
    Raises :class:`InputFileError` for any file that cannot be used, :class:`UsageError` for
    options that do not fit its kind (``sheet`` for a CSV file, ``delimiter`` of a workbook).
    """
    path = Path(path)
    file_format = _file_format(path)
    _check_reading_options(path, file_format, sheet, encoding, delimiter)
    try:
        if not path.is_file():
            problem = "is a folder, not a file." if path.is_dir() else "does not exist."
            raise InputFileError(path, problem)
        with path.open("rb") as stream:
            # A text file is read whole, once; a workbook only for its magic number.
            raw = stream.read() if file_format is FileFormat.CSV else stream.read(8)
            head = raw[:8]
    except OSError as error:
        raise InputFileError(path, f"cannot be read ({error.strerror or error}).") from None
    if not head:
        raise InputFileError(path, "is empty: there is no header row and no data.")
    _identify_content(path, head, file_format)
    with collector_paused():
        if file_format is FileFormat.CSV:
            table = read_csv_table(
                path,
                raw,
                encoding=encoding,
                delimiter=delimiter,
                is_header=is_header,
                header_row=header_row,
            )
        else:
            # A sheet is parsed in one long library call; abandonable lets a stop cut it short.
            table = abandonable(
                read_workbook_table, path, file_format, sheet, is_header, header_row
            )
        table = strip_result_block(table)
    if not any(header.strip() for header in table.headers):
        where = f"sheet '{table.sheet}'" if table.sheet else "the file"
        raise InputFileError(
            path, f"has no header row: row {table.header_row} of {where} is empty."
        )
    if not table.rows:
        raise InputFileError(
            path, "has a header row but no data rows; add at least one request below it."
        )
    return table
