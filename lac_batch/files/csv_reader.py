"""CSV, TSV and text exports: encoding and delimiter detection, exact text, Excel row numbers."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from charset_normalizer import from_bytes

from lac_batch.files.table import CellProblem, FileFormat, HeaderTest, RawTable
from lac_batch.model.errors import InputFileError
from lac_batch.model.mapping import HEADER_SEARCH_ROWS
from lac_batch.model.wording import Option, option_name

if TYPE_CHECKING:
    from _csv import Reader

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

DELIMITERS = (",", ";", "\t")

# What Finnish Excel saves as "CSV (semicolon delimited)" when the text is not UTF-8.
_LEGACY_ENCODING = "cp1252"


def _decode_or_explain(raw: bytes, encoding: str, path: Path) -> str:
    try:
        return raw.decode(encoding)
    except LookupError:
        raise InputFileError(
            path, f"'{encoding}' is not an encoding Python knows; try utf-8 or cp1252."
        ) from None
    except UnicodeDecodeError as error:
        raise InputFileError(
            path,
            f"cannot be read as {encoding}: byte {error.start + 1} is not valid there. Try "
            f"another {option_name(Option.ENCODING)} (utf-8, cp1252, utf-16), or save the file "
            "again as "
            "'CSV UTF-8' from Excel.",
        ) from None


def decode_text(raw: bytes, path: Path, encoding: str | None = None) -> tuple[str, str]:
    """The file's text and the name of the encoding it was read with.

    Without ``encoding``: a byte-order mark decides (UTF-8, UTF-16); else strict UTF-8; else
    cp1252 as Finnish Excel saves it; else charset-normalizer's best guess.
    """
    if encoding is not None:
        text = _decode_or_explain(raw, encoding, path)
        return text.removeprefix("\ufeff"), encoding
    if raw.startswith(codecs.BOM_UTF8):
        return _decode_or_explain(raw[len(codecs.BOM_UTF8) :], "utf-8", path), "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_or_explain(raw, "utf-16", path), "utf-16"
    if b"\x00" in raw:
        raise InputFileError(
            path,
            "is not a text file (it holds NUL bytes): it may be a workbook or another binary "
            "file with a .csv name. Open it in Excel and save it as .xlsx or CSV.",
        )
    for candidate in ("utf-8", _LEGACY_ENCODING):
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    best = from_bytes(raw).best()
    if best is None:
        raise InputFileError(
            path,
            "is not text in any encoding lac-batch can recognise; give one with "
            f"{option_name(Option.ENCODING)}, or save the file as 'CSV UTF-8' from Excel.",
        )
    return str(best), best.encoding


def _first_line(text: str) -> str:
    """The first record's text, ignoring line breaks inside quotes."""
    in_quotes = False
    for index, character in enumerate(text):
        if character == '"':
            in_quotes = not in_quotes
        elif character in "\r\n" and not in_quotes:
            return text[:index]
    return text


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header row most often (comma when nothing splits it)."""
    header = _first_line(text)
    counts = {delimiter: 0 for delimiter in DELIMITERS}
    in_quotes = False
    for character in header:
        if character == '"':
            in_quotes = not in_quotes
        elif not in_quotes and character in counts:
            counts[character] += 1
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


# Line ends str.splitlines honours beyond \r and \n; inside a CSV they are cell text.
_OTHER_LINE_ENDS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _lines(text: str) -> list[str]:
    """The text's lines with their ends, split at \\r, \\n and \\r\\n as ``newline=""`` splits."""
    # One substring search per character: much faster than a character class over the text.
    if not any(end in text for end in _OTHER_LINE_ENDS):
        return text.splitlines(keepends=True)  # the same lines, several times faster
    return list(io.StringIO(text, newline=""))


def _read_records(
    records: Reader, lines: list[str], skipped: int = 0
) -> tuple[list[str], list[list[str]], list[int], list[CellProblem], list[str]]:
    """Headers, rows, their row numbers, reader problems, and each row's line (RawTable.lines).

    ``records`` reads ``lines``; its line count after each record tells one-line records.
    """
    headers = next(records)
    rows: list[list[str]] = []
    row_numbers: list[int] = []
    problems: list[CellProblem] = []
    row_lines: list[str] = []
    width = len(headers)
    line_number = records.line_num
    # The header is row 1 (after the ``skipped`` rows above it); every record after it is one
    # Excel row, blank or not.
    for row_number, cells in enumerate(records, start=2 + skipped):
        # One line, one record: rewriting the line rewrites the record.
        line = lines[line_number] if records.line_num == line_number + 1 else ""
        line_number = records.line_num
        joined = "".join(cells)
        if not joined or joined.isspace():
            continue
        if len(cells) != width:
            line = ""
            if len(cells) > width:
                extra = cells[width:]
                if any(cell.strip() for cell in extra):
                    problems.append(
                        CellProblem(
                            row_number,
                            None,
                            "extra_cells",
                            f"has {len(cells)} cells but the header row has {width}; "
                            f"remove the extra values or add headers for them",
                        )
                    )
                cells = cells[:width]
            else:
                cells = cells + [""] * (width - len(cells))
        rows.append(cells)
        row_numbers.append(row_number)
        row_lines.append(
            line if line.endswith("\r\n") or not line else line.rstrip("\r\n") + "\r\n"
        )
    if row_lines:
        # The file's last record may end inside an unclosed quote (the reader forgives that at
        # the end of the file); its line must never be copied with more lines after it.
        row_lines[-1] = ""
    return headers, rows, row_numbers, problems, row_lines


def _header_line(
    lines: list[str],
    delimiter: str | None,
    is_header: HeaderTest | None,
    header_row: int | None,
    path: Path,
) -> tuple[int, str]:
    """The header's 0-based line and the delimiter sniffed on it (or given)."""
    if header_row is not None:
        if header_row > len(lines):
            raise InputFileError(path, f"has no row {header_row} to read the header from.")
        return header_row - 1, delimiter or sniff_delimiter(lines[header_row - 1])
    if is_header is not None:
        for index, line in enumerate(lines[:HEADER_SEARCH_ROWS]):
            used = delimiter or sniff_delimiter(line)
            cells = next(csv.reader([line], delimiter=used, strict=False), [])
            if is_header(cells):
                return index, used
    return 0, delimiter or sniff_delimiter(lines[0] if lines else "")


def read_csv_table(
    path: Path,
    raw: bytes,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    is_header: HeaderTest | None = None,
    header_row: int | None = None,
) -> RawTable:
    """Read delimited text into a :class:`RawTable` with every cell's exact text.

    The header is row ``header_row``, else the first of the top rows ``is_header`` accepts,
    else row 1; the delimiter is sniffed on it.
    """
    text, used_encoding = decode_text(raw, path, encoding)
    if not text.strip():
        raise InputFileError(path, "is empty: there is no header row and no data.")
    # Line ends kept: CRLF and line breaks inside quoted cells stay exactly as written.
    lines = _lines(text)
    del text
    skipped, used_delimiter = _header_line(lines, delimiter, is_header, header_row, path)
    above = [
        next(csv.reader([line], delimiter=used_delimiter, strict=False), [])
        for line in lines[:skipped]
    ]
    if skipped:
        lines = lines[skipped:]
    records = csv.reader(lines, delimiter=used_delimiter, strict=False)
    try:
        headers, rows, row_numbers, problems, row_lines = _read_records(records, lines, skipped)
    except csv.Error as error:
        raise InputFileError(
            path, f"is not readable as CSV near row {records.line_num}: {error}."
        ) from None
    return RawTable(
        path=path,
        file_format=FileFormat.CSV,
        headers=headers,
        rows=rows,
        row_numbers=row_numbers,
        encoding=used_encoding,
        delimiter=used_delimiter,
        problems=problems,
        lines=row_lines,
        header_row=skipped + 1,
        above=above,
    )
