"""A blank request file to fill in: ``lac-batch template``.

An ``.xlsx`` template has two sheets. ``requests`` holds only the header row (bold, frozen), with a
note on every header saying what the column expects; text and ID columns are text-formatted so
Excel keeps leading zeros, and columns whose values are known get data validation. ``example``
shows one filled-in row below a title line, so its row 1 never has the required columns and the
reader (which picks the only sheet whose row 1 has them) never reads it. A ``.csv`` template is
the header row only: an example row there would be read as a request.

Headers are checked by :func:`lac_batch.model.columns.plan_columns`, the same rules the reader
applies, so a template always reads back unchanged once filled in.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from lac_batch.files.modes import create_people_temporary
from lac_batch.files.table import TEMPLATE_EXAMPLE_SHEET, TEMPLATE_EXAMPLE_TITLE
from lac_batch.model.cells import MAX_SAFE_INTEGER, MetadataType, contains_control_characters
from lac_batch.model.columns import (
    REQUIRED_FIELDS,
    ColumnSpec,
    Field,
    column_letter,
    normalise_name,
    plan_columns,
)
from lac_batch.model.errors import HeaderError, UsageError
from lac_batch.model.mapping import Profile
from lac_batch.model.wording import Option, option_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

DEFAULT_TEMPLATE_NAME = "requests-template.xlsx"
REQUESTS_SHEET = "requests"
EXAMPLE_SHEET = TEMPLATE_EXAMPLE_SHEET
# Finnish (and most European) Excel uses ';' as its list separator because ',' is the decimal
# mark, so a ';' file opened by double-click splits into columns there; lac-batch sniffs either.
CSV_DELIMITER = ";"
# Every word parse_bool accepts, canonical pair first: the dropdown offers them all, so the
# validation never refuses a value lac-batch would read.
BOOL_CHOICES = ("true", "false", "yes", "no", "kyllä", "ei", "1", "0")

_FIXED_FIELDS = (Field.CONNECTION_KEY, Field.REQUEST_TYPE, Field.CUSTOMER_ID, Field.NOTE)
_TEXT_FORMAT = "@"
_DATE_FORMAT = "yyyy-mm-dd"
_EXCEL_LAST_ROW = 1_048_576
_COMMENT_AUTHOR = "lac-batch"
_MAX_COLUMN_WIDTH = 60
# Characters XML 1.0 cannot hold besides the control characters: lone surrogates (from argv
# bytes that are not UTF-8) and the non-characters U+FFFE and U+FFFF.
_NOT_IN_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")

# What the header note says about each fixed column, and the value the example row shows.
_FIXED_NOTES: dict[Field, tuple[str, str]] = {
    Field.CONNECTION_KEY: (
        "Required. Which service connection the request concerns, e.g. bank:op. Text; spaces "
        "at the ends are trimmed; no control characters.",
        "bank:op",
    ),
    Field.REQUEST_TYPE: (
        "Required. The kind of request, e.g. setup. Text; spaces at the ends are trimmed; no "
        "control characters.",
        "setup",
    ),
    Field.CUSTOMER_ID: (
        "Optional. The target company's ID, kept as text (leading zeros stay). Leave it empty "
        "when your API key is pinned to one company (LAC keys usually are).",
        "",
    ),
    Field.NOTE: (
        "Optional. Free text, sent exactly as written (line breaks and spaces kept).",
        "OP:n yritystili käyttöön.",
    ),
}

_MAX_SAFE_INTEGER_TEXT = f"{MAX_SAFE_INTEGER:,}".replace(",", " ")

# The accepted forms of each metadata type (as the README's table says), and an example value.
_TYPE_NOTES: dict[MetadataType, tuple[str, str]] = {
    MetadataType.STR: ("text; spaces at the ends are trimmed", "example text"),
    MetadataType.INT: (
        "a whole number: 155, 1 234 (spaces group thousands) or 12,0; at most "
        f"±{_MAX_SAFE_INTEGER_TEXT}",
        "1 234",
    ),
    MetadataType.FLOAT: (
        "a number: 1 234,50, 0.25 or 12; a decimal comma or point, never both",
        "1 234,50",
    ),
    MetadataType.BOOL: ("true/false, yes/no, 1/0 or kyllä/ei, in any case", "kyllä"),
    MetadataType.DATE: ("a date: an Excel date cell, 2026-03-31 or 31.3.2026", "31.3.2026"),
    MetadataType.JSON: (
        'any JSON value: 12, "text", [1, 2] or {"source": "crm"}',
        '{"source": "crm"}',
    ),
}


@dataclass(frozen=True, slots=True)
class TemplateColumn:
    """One column of the template: what the reader will make of it, its note and example."""

    spec: ColumnSpec
    note: str
    """The header's cell comment: required or not, the type, the accepted forms."""
    example: str
    """The value the example sheet shows; one that ``validate`` accepts."""

    @property
    def is_text(self) -> bool:
        """Text-formatted in Excel, so ``007`` stays ``007`` and ``1/2`` never becomes a date."""
        return self.spec.field is not Field.METADATA_VALUE or self.spec.value_type in (
            MetadataType.STR,
            MetadataType.JSON,
        )


def _metadata_header(value: str) -> str:
    """``--metadata amount:int`` → ``metadata.amount:int``; a ``metadata.`` prefix is allowed."""
    stripped = value.strip()
    prefix, dot, rest = stripped.partition(".")
    if dot and normalise_name(prefix) == Field.METADATA.value:
        stripped = rest
    return f"{Field.METADATA.value}.{stripped}"


def _describe(spec: ColumnSpec) -> TemplateColumn:
    if spec.field is not Field.METADATA_VALUE:
        note, example = _FIXED_NOTES[spec.field]
        return TemplateColumn(spec, note, example)
    accepted, example = _TYPE_NOTES[spec.value_type]
    key = ".".join(spec.key_path)
    note = (
        f"Optional, {spec.value_type.value}: {accepted}. Sent as metadata.{key}; an empty cell "
        "leaves the key out."
    )
    return TemplateColumn(spec, note, example)


def template_columns(metadata_columns: Sequence[str]) -> list[TemplateColumn]:
    """The template's columns: the four request fields, then one per ``metadata_columns`` entry.

    Each entry is ``KEY[:type]`` (a ``metadata.`` prefix is allowed). Raises :class:`UsageError`
    for one the reader would refuse: an empty key, an unknown type, a column named twice.
    """
    headers = [field.value for field in _FIXED_FIELDS]
    for value in metadata_columns:
        if contains_control_characters(value) or _NOT_IN_XML.search(value):
            # A workbook cannot hold these (openpyxl refuses control characters and writes the
            # others as XML no reader parses), and in a CSV header they would only be a trap.
            raise UsageError(
                f"{option_name(Option.METADATA)} {value!r}: remove the control character or "
                "non-character from the key."
            )
        headers.append(_metadata_header(value))
    try:
        plan = plan_columns(headers, Path(option_name(Option.METADATA)))
    except HeaderError as error:
        raise UsageError(f"{option_name(Option.METADATA)}: {error.problem}") from None
    return [_describe(spec) for spec in plan.columns]


def profile_columns(profile: Profile) -> list[TemplateColumn]:
    """A template for ``profile``: its source names as headers, in its order, each described
    by the column it fills, so a filled-in copy is picked by the profile on its own."""
    columns: list[TemplateColumn] = []
    for position, entry in enumerate(profile.mapping.entries):
        if entry.ignores:
            # Kept so the headers are exactly the profile's; a text column nobody reads.
            note = f"Ignored: profile '{profile.name}' maps this column to -."
            columns.append(TemplateColumn(ColumnSpec(position, entry.source, Field.NOTE), note, ""))
            continue
        target = _target_spec(entry.target)
        described = _describe(target)
        spec = replace(target, position=position, header=entry.source)
        note = f"{described.note} (read as {entry.target} by profile '{profile.name}')"
        columns.append(TemplateColumn(spec, note, described.example))
    return columns


def _target_spec(target: str) -> ColumnSpec:
    """The column a mapping target names, read by the reader's own rules (the required
    columns stand beside it so that it can be read alone)."""
    others = [field.value for field in REQUIRED_FIELDS if field.value != normalise_name(target)]
    return plan_columns([target, *others], Path(option_name(Option.PROFILE))).columns[0]


def _write_text(sheet: Worksheet, row: int, column: int, text: str, *, bold: bool = False) -> None:
    cell = sheet.cell(row=row, column=column, value=text)
    # openpyxl would store text starting with "=" as a formula; this cell holds text only.
    cell.data_type = "s"
    if bold:
        cell.font = Font(bold=True)


def _column_width(column: TemplateColumn) -> int:
    return min(max(len(column.spec.header), len(column.example), 10) + 2, _MAX_COLUMN_WIDTH)


def _header_comment(column: TemplateColumn) -> Comment:
    # The default box (144 x 79 pt) cuts longer notes off; grow it with the text.
    return Comment(
        column.note, _COMMENT_AUTHOR, height=40 + 15 * (len(column.note) // 45), width=260
    )


def _validation_for(column: TemplateColumn) -> DataValidation | None:
    """The data validation of a column's data cells, or None where any text may be right."""
    if column.spec.field is not Field.METADATA_VALUE:
        return None
    value_type = column.spec.value_type
    if value_type is MetadataType.BOOL:
        return DataValidation(
            type="list",
            formula1='"' + ",".join(BOOL_CHOICES) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="Not true or false",
            error="Write true/false, yes/no, 1/0 or kyllä/ei.",
        )
    if value_type is MetadataType.DATE:
        # "Between the first and the last date Excel knows" is how Excel says "any date".
        return DataValidation(
            type="date",
            operator="between",
            formula1=str(int(to_excel(date(1900, 1, 1)))),
            formula2=str(int(to_excel(date(9999, 12, 31)))),
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="Not a date",
            error="Enter a date, e.g. 2026-03-31 (or 31.3.2026 in Finnish Excel).",
            showInputMessage=True,
            promptTitle="Date",
            prompt="A date, e.g. 2026-03-31 or 31.3.2026. No time of day.",
        )
    if value_type in (MetadataType.INT, MetadataType.FLOAT):
        # A whole/decimal rule would refuse "1 234" or "1 234,50" typed as text (Excel parses
        # them only in some locales), which lac-batch accepts; so only an input message.
        accepted, _example = _TYPE_NOTES[value_type]
        return DataValidation(
            allow_blank=True,
            showInputMessage=True,
            promptTitle="Whole number" if value_type is MetadataType.INT else "Number",
            prompt=accepted[0].upper() + accepted[1:] + ".",
        )
    return None


def _format_requests_sheet(sheet: Worksheet, columns: Sequence[TemplateColumn]) -> None:
    sheet.title = REQUESTS_SHEET
    for position, column in enumerate(columns, start=1):
        _write_text(sheet, 1, position, column.spec.header, bold=True)
        sheet.cell(row=1, column=position).comment = _header_comment(column)
        letter = column_letter(position - 1)
        dimension = sheet.column_dimensions[letter]
        dimension.width = _column_width(column)
        # A column style applies to every cell typed into the column later, the whole column
        # down, as Excel stores "Format Cells" on a selected column.
        if column.is_text:
            dimension.number_format = _TEXT_FORMAT
        elif column.spec.value_type is MetadataType.DATE:
            # ISO display avoids reading 3.1. as March or January depending on the locale.
            dimension.number_format = _DATE_FORMAT
        validation = _validation_for(column)
        if validation is not None:
            validation.add(f"{letter}2:{letter}{_EXCEL_LAST_ROW}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"


def _fill_example_sheet(sheet: Worksheet, columns: Sequence[TemplateColumn]) -> None:
    # Row 1 is a title, never the headers: the reader never picks this sheet on its own.
    _write_text(
        sheet,
        1,
        1,
        f"{TEMPLATE_EXAMPLE_TITLE} lac-batch reads the '{REQUESTS_SHEET}' sheet only; "
        "this sheet is ignored.",
        bold=True,
    )
    for position, column in enumerate(columns, start=1):
        _write_text(sheet, 3, position, column.spec.header, bold=True)
        if column.example:
            _write_text(sheet, 4, position, column.example)
        sheet.column_dimensions[column_letter(position - 1)].width = _column_width(column)


def _xlsx_bytes(columns: Sequence[TemplateColumn]) -> bytes:
    workbook = Workbook()
    _format_requests_sheet(workbook.active, columns)
    _fill_example_sheet(workbook.create_sheet(EXAMPLE_SHEET), columns)
    workbook.active = 0
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv_bytes(columns: Sequence[TemplateColumn]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow([column.spec.header for column in columns])
    # The BOM makes Excel read the file as UTF-8 (ä and ö intact); the reader accepts it.
    return buffer.getvalue().encode("utf-8-sig")


def _check_destination(path: Path, force: bool) -> None:
    if path.suffix.lower() not in (".xlsx", ".csv"):
        raise UsageError(f"{path}: a template is .xlsx or .csv; give PATH one of those endings.")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give the template a file name.")
    if not path.parent.is_dir():
        raise UsageError(f"{path}: the folder {path.parent} does not exist.")
    if path.exists() and not force:
        raise UsageError(
            f"{path}: already exists; choose another PATH, or give {option_name(Option.FORCE)}."
        )


def _replace(path: Path, content: bytes) -> None:
    # Written beside and renamed, so a failure never leaves the old file half overwritten.
    handle, temporary = create_people_temporary(path)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _create(path: Path, content: bytes) -> None:
    # Mode "x" creates the file only if it is still absent, so a file that appeared since the
    # check is never overwritten.
    with path.open("xb") as stream:
        try:
            stream.write(content)
        except BaseException:
            # Only a file this call created is removed, never one that was there before.
            stream.close()
            with contextlib.suppress(OSError):
                path.unlink()
            raise


def write_template(
    path: Path | str,
    metadata_columns: Sequence[str],
    *,
    force: bool = False,
    profile: Profile | None = None,
) -> Path:
    """Write a blank template to ``path`` (``.xlsx`` or ``.csv``, by its ending) and return it.

    ``metadata_columns`` are ``KEY[:type]`` texts, one column each after the request fields;
    with ``profile``, the columns are instead the profile's source names. An existing file is
    replaced only with ``force``. Raises :class:`UsageError` for a bad column,
    a wrong ending, an existing file, or a destination that cannot be written.
    """
    path = Path(path)
    if profile is not None and metadata_columns:
        raise UsageError(
            f"{option_name(Option.METADATA)} and {option_name(Option.PROFILE)}: a profile's "
            "template has exactly its columns; add metadata columns to the profile instead."
        )
    columns = (
        profile_columns(profile) if profile is not None else template_columns(metadata_columns)
    )
    _check_destination(path, force)
    is_csv = path.suffix.lower() == ".csv"
    content = _csv_bytes(columns) if is_csv else _xlsx_bytes(columns)
    try:
        if force:
            _replace(path, content)
        else:
            _create(path, content)
    except FileExistsError:
        raise UsageError(
            f"{path}: already exists; choose another PATH, or give {option_name(Option.FORCE)}."
        ) from None
    except OSError as error:
        raise UsageError(
            f"{path}: cannot be written ({error.strerror or error}); close it if it is open in "
            "Excel, or choose another PATH."
        ) from None
    return path
