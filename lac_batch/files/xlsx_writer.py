"""A minimal streaming .xlsx writer for the results sheet: one sheet, a bold frozen header row.

XlsxWriter spends several Python calls on every cell (about 11 µs each, 17 s for a 100k-row
results file); this writes each row's XML with one f-string per cell and streams it into the
zip, about ten times faster. Cells are written exactly as XlsxWriter's ``constant_memory`` mode
writes them (inline strings with ``_xHHHH_`` escapes, numbers as ``%.16G``), so every reader
that read those files reads these the same way.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lac_batch.model.columns import column_letter

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

Cell = str | int | float
"""Text (``""`` leaves the cell empty) or a number."""

# Excel holds at most 32767 UTF-16 units in a cell; XlsxWriter cuts longer text there too.
MAX_CELL_CHARACTERS = 32767

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_OFFICE_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = (
    _XML_DECLARATION
    + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_CONTENT_TYPE}.sheet.main+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_CONTENT_TYPE}.styles+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    f'ContentType="{_CONTENT_TYPE}.worksheet+xml"/>'
    '<Override PartName="/xl/worksheets/sheet2.xml" '
    f'ContentType="{_CONTENT_TYPE}.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    _XML_DECLARATION + f'<Relationships xmlns="{_PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    _XML_DECLARATION + f'<Relationships xmlns="{_PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_OFFICE_RELS}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId3" Type="{_OFFICE_RELS}/worksheet" Target="worksheets/sheet2.xml"/>'
    "</Relationships>"
)
# Style 0 is the default, style 1 the bold header; the two fills are the ones Excel requires.
_STYLES = (
    _XML_DECLARATION + f'<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    "</cellStyleXfs>"
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)

_SHEET_NAME = "results"
# Characters that need XML escaping or that XML 1.0 cannot hold (written as _xHHHH_).
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]")
_LITERAL_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_EDGE_WHITESPACE = re.compile(r"^\s|\s$")


def _utf16_truncate(text: str) -> str:
    if len(text) <= MAX_CELL_CHARACTERS // 2:
        return text
    units = 0
    for index, character in enumerate(text):
        units += 2 if ord(character) > 0xFFFF else 1
        if units > MAX_CELL_CHARACTERS:
            return text[:index]
    return text


def _escaped(text: str) -> str:
    """Text as XlsxWriter escapes it: a literal ``_xHHHH_`` gets ``_x005F`` in front, control
    characters become ``_xHHHH_`` (Excel's own escape, which readers undo), then XML escaping."""
    text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda match: f"_x{ord(match.group()):04X}_", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text_cell(reference: str, text: str, style: str = "") -> str:
    text = _escaped(_utf16_truncate(text))
    space = ' xml:space="preserve"' if _EDGE_WHITESPACE.search(text) else ""
    return f'<c r="{reference}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _needs_care(texts: list[str]) -> bool:
    """Whether any text needs more than a plain <t> element: escaping, something that looks
    like an escape, leading or trailing whitespace, or a length to cut. Checked on the joined
    row at once; a false alarm only sends the row down the careful path, to the same XML."""
    joined = "".join(texts)
    return (
        _SPECIAL.search(joined) is not None
        or "_x" in joined
        or len(joined) > MAX_CELL_CHARACTERS // 2
        or list(map(str.strip, texts)) != texts
    )


def _row_xml(line: str, letters: Sequence[str], cells: Sequence[Cell]) -> str:
    if _needs_care([cell for cell in cells if isinstance(cell, str)]):
        # The rare row that needs care: every text cell goes the careful way.
        parts = [
            _text_cell(letter + line, cell)
            if isinstance(cell, str)
            else f'<c r="{letter}{line}"><v>{cell:.16G}</v></c>'
            for letter, cell in zip(letters, cells, strict=False)
            if cell != ""
        ]
    else:
        parts = [
            f'<c r="{letter}{line}" t="inlineStr"><is><t>{cell}</t></is></c>'
            if isinstance(cell, str)
            else f'<c r="{letter}{line}"><v>{cell:.16G}</v></c>'
            for letter, cell in zip(letters, cells, strict=False)
            if cell != ""
        ]
    return f'<row r="{line}">{"".join(parts)}</row>'


def _column_width(width: float) -> float:
    """A width in characters as Excel stores it (XlsxWriter's conversion, Calibri 11)."""
    pixels = int(width * 7 + 0.5) + 5 if width >= 1 else int(width * 12 + 0.5)
    return int(pixels / 7 * 256) / 256


def _workbook_xml(sheet_name: str, filter_range: str, hidden_name: str) -> str:
    return (
        _XML_DECLARATION + f'<workbook xmlns="{_MAIN}" xmlns:r="{_OFFICE_RELS}">'
        f'<sheets><sheet name="{sheet_name}" sheetId="1" r:id="rId1"/>'
        f'<sheet name="{_escaped(hidden_name)}" sheetId="2" state="hidden" r:id="rId3"/></sheets>'
        # Excel keeps an autofilter's range in this hidden name as well as in the sheet.
        '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
        f"{sheet_name}!{filter_range}</definedName></definedNames>"
        "</workbook>"
    )


def _sheet_parts(
    letters: Sequence[str],
    headers: Sequence[str],
    row_count: int,
    widths: Sequence[float],
    above: Sequence[Sequence[str]] = (),
) -> tuple[str, str, str]:
    """The sheet XML before the data rows, after them, and the autofilter's absolute range.

    ``above``: rows written before the header (an input's titles), so it keeps its row number.
    """
    top = len(above) + 1
    last_letter, last_line = letters[-1], max(row_count, 1) + top
    columns = "".join(
        f'<col min="{position}" max="{position}" width="{_column_width(width)}" customWidth="1"/>'
        for position, width in enumerate(widths, start=1)
    )
    # A blank header cell still gets the bold style, as every header cell does.
    header = "".join(
        f'<c r="{letter}{top}" s="1"/>'
        if not text
        else _text_cell(f"{letter}{top}", text, ' s="1"')
        for letter, text in zip(letters, headers, strict=True)
    )
    titles = "".join(
        _row_xml(str(line), [column_letter(index) for index in range(len(cells))], cells)
        for line, cells in enumerate(above, start=1)
    )
    head = (
        _XML_DECLARATION + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_OFFICE_RELS}">'
        f'<dimension ref="A1:{last_letter}{last_line}"/>'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
        f'<pane ySplit="{top}" topLeftCell="A{top + 1}" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{columns}</cols>" if columns else "")
        + f'<sheetData>{titles}<row r="{top}">{header}</row>'
    )
    tail = (
        f'</sheetData><autoFilter ref="A{top}:{last_letter}{last_line}"/>'
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    )
    return head, tail, f"$A${top}:${last_letter}${last_line}"


def _hidden_sheet_xml(rows: Sequence[Sequence[str]]) -> str:
    lines = "".join(
        _row_xml(str(line), [column_letter(index) for index in range(len(cells))], cells)
        for line, cells in enumerate(rows, start=1)
    )
    return (
        _XML_DECLARATION + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_OFFICE_RELS}">'
        f"<sheetData>{lines}</sheetData></worksheet>"
    )


@dataclass(frozen=True)
class SheetExtras:
    """What a results sheet carries besides its rows: the input's rows above its header, and
    a hidden sheet (its name and rows) that says how the input's headers were read."""

    above: Sequence[Sequence[str]] = ()
    hidden_name: str = "lac-batch"
    hidden_rows: Sequence[Sequence[str]] = ()


def write_sheet(
    path: Path,
    headers: Sequence[str],
    rows: Callable[[], Iterable[Sequence[Cell]]],
    row_count: int,
    widths: Sequence[float],
    extras: SheetExtras | None = None,
) -> None:
    """Write a sheet named ``results``: ``headers`` (bold, frozen, with an autofilter), then the
    ``row_count`` rows that ``rows()`` yields; ``extras`` the rows above the header and the
    hidden sheet.

    Each row has at most ``len(headers)`` cells; ``""`` leaves a cell empty, numbers are numbers
    and every other value is text (never a formula).
    """
    if not headers:
        raise ValueError("a results sheet needs at least one column")
    extras = extras or SheetExtras()
    try:
        _write_package(path, headers, rows(), row_count, widths, extras, zip64=False)
    except _SheetTooLarge:
        # Zip64 records only when needed: some Excel versions refuse them on small files.
        _write_package(path, headers, rows(), row_count, widths, extras, zip64=True)


class _SheetTooLarge(Exception):
    pass


def _write_package(
    path: Path,
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    row_count: int,
    widths: Sequence[float],
    extras: SheetExtras,
    *,
    zip64: bool,
) -> None:
    letters = [column_letter(position) for position in range(len(headers))]
    head, tail, filter_range = _sheet_parts(letters, headers, row_count, widths, extras.above)
    first_line = len(extras.above) + 2
    # Level 1 compresses sheet XML nearly as well as the default and several times faster.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr(
            "xl/workbook.xml", _workbook_xml(_SHEET_NAME, filter_range, extras.hidden_name)
        )
        archive.writestr("xl/worksheets/sheet2.xml", _hidden_sheet_xml(extras.hidden_rows))
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        try:
            with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=zip64) as sheet:
                sheet.write(head.encode("utf-8"))
                chunk: list[str] = []
                for line, cells in enumerate(rows, start=first_line):
                    chunk.append(_row_xml(str(line), letters, cells))
                    if len(chunk) >= 1000:
                        sheet.write("".join(chunk).encode("utf-8"))
                        chunk.clear()
                sheet.write(("".join(chunk) + tail).encode("utf-8"))
        except RuntimeError as error:
            # zipfile's word for a member over 2 GiB written without zip64 records.
            if zip64 or "force_zip64" not in str(error):
                raise
            raise _SheetTooLarge from None
