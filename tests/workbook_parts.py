"""Workbooks built from their XML text, laid out as other writers lay them out.

Excel, LibreOffice, XlsxWriter and openpyxl all put an .xlsx's workbook at ``xl/workbook.xml``;
other writers do not have to (the package's relationships say where it is), some write zip entry
names with ``\\``, and LibreOffice marks error cells and durations in .ods its own way. These
builders write such files exactly, so tests need no third-party fixture files. Old .xls
(Excel 97-2003, BIFF8) files are written with xlwt.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import xlwt

__all__ = ["OdsCell", "XlsCell", "XlsxCell", "write_ods", "write_xls", "write_xlsx"]

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_SHEET_TYPE = f"{_REL}/worksheet"
_STYLES_TYPE = f"{_REL}/styles"
_OFFICE_DOCUMENT_TYPE = f"{_REL}/officeDocument"
# cellXfs index → number format: 0 general, 1 a date, 2 an elapsed-time duration.
DATE_STYLE = 1
DURATION_STYLE = 2


@dataclass(frozen=True)
class XlsxCell:
    """One cell: ``kind`` is ``str`` (inline text), ``n`` (number), ``e`` (error), ``f`` (formula
    saved without a value)."""

    kind: str
    value: str = ""
    formula: str | None = None
    style: int = 0

    def xml(self, reference: str) -> str:
        style = f' s="{self.style}"' if self.style else ""
        formula = f"<f>{escape(self.formula)}</f>" if self.formula is not None else ""
        if self.kind == "str":
            return (
                f'<c r="{reference}" t="inlineStr"{style}><is><t>{escape(self.value)}</t></is></c>'
            )
        if self.kind == "e":
            return f'<c r="{reference}" t="e"{style}>{formula}<v>{escape(self.value)}</v></c>'
        if self.kind == "f":
            return f'<c r="{reference}"{style}>{formula}</c>'
        return f'<c r="{reference}"{style}>{formula}<v>{self.value}</v></c>'


def text(value: str) -> XlsxCell:
    return XlsxCell("str", value)


def _reference(column: int, row_number: int) -> str:
    letters = ""
    column += 1
    while column:
        column, remainder = divmod(column - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return f"{letters}{row_number}"


def _sheet_xml(rows: Sequence[Sequence[XlsxCell | str]]) -> str:
    lines = []
    for row_index, row in enumerate(rows, start=1):
        cells = "".join(
            (text(cell) if isinstance(cell, str) else cell).xml(_reference(column, row_index))
            for column, cell in enumerate(row)
        )
        lines.append(f'<row r="{row_index}">{cells}</row>')
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN}" '
        f'xmlns:r="{_REL}"><sheetData>{"".join(lines)}</sheetData></worksheet>'
    )


_STYLES = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="165" formatCode="[hh]:mm:ss"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs></styleSheet>"
)


def _relationships(*relations: tuple[str, str, str]) -> str:
    items = "".join(
        f"<Relationship Id={quoteattr(rid)} Type={quoteattr(kind)} Target={quoteattr(target)}/>"
        for rid, kind, target in relations
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{_PKG}">{items}</Relationships>'
    )


def write_xlsx(
    path: Path,
    rows: Sequence[Sequence[XlsxCell | str]],
    *,
    workbook_part: str = "xl/workbook.xml",
    sheet_target: str = "worksheets/sheet1.xml",
    backslashes: bool = False,
    sheet_xml: str | None = None,
) -> Path:
    """An .xlsx with one sheet ``Sheet1``; ``workbook_part`` is where the workbook lives (the
    root relationships point there), ``sheet_target`` the sheet's target relative to it, and
    ``backslashes`` writes every zip entry name with ``\\`` as some Windows zip writers do."""
    folder, _, name = workbook_part.rpartition("/")
    base = f"{folder}/" if folder else ""
    sheet_part = base + sheet_target
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns='
            '"http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType='
            '"application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/{workbook_part}" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f'<Override PartName="/{sheet_part}" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            f'<Override PartName="/{base}styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
        ),
        "_rels/.rels": _relationships(("rId1", _OFFICE_DOCUMENT_TYPE, workbook_part)),
        workbook_part: (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_MAIN}" '
            f'xmlns:r="{_REL}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
            "</workbook>"
        ),
        f"{base}_rels/{name}.rels": _relationships(
            ("rId1", _SHEET_TYPE, sheet_target), ("rId2", _STYLES_TYPE, "styles.xml")
        ),
        sheet_part: sheet_xml if sheet_xml is not None else _sheet_xml(rows),
        f"{base}styles.xml": _STYLES,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, content in parts.items():
            entry = part.replace("/", "\\") if backslashes else part
            archive.writestr(entry, content)
    return path


@dataclass(frozen=True)
class OdsCell:
    """One ``table:table-cell``: its attributes as written, and the text it shows."""

    attributes: str
    shown: str

    def xml(self) -> str:
        shown = f"<text:p>{escape(self.shown)}</text:p>"
        return f"<table:table-cell {self.attributes}>{shown}</table:table-cell>"


def _ods_cell(cell: OdsCell | str) -> str:
    if isinstance(cell, str):
        return OdsCell('office:value-type="string"', cell).xml()
    return cell.xml()


# How LibreOffice Calc writes the unused rest of a sheet: one row repeated to the last row, of
# one empty cell repeated to the last column.
_CALC_EMPTY_REST = (
    '<table:table-row table:number-rows-repeated="1048572">'
    '<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
)


def write_ods(
    path: Path,
    rows: Sequence[Sequence[OdsCell | str]],
    sheet: str = "Sheet1",
    *,
    empty_rest: bool = False,
) -> Path:
    """An .ods with one sheet, its cells written as LibreOffice Calc writes them; ``empty_rest``
    adds the padding rows Calc writes after the last used row."""
    body = "".join(
        f"<table:table-row>{''.join(_ods_cell(cell) for cell in row)}</table:table-row>"
        for row in rows
    ) + (_CALC_EMPTY_REST if empty_rest else "")
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:of="urn:oasis:names:tc:opendocument:xmlns:of:1.2" '
        'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0" '
        'office:version="1.3"><office:body><office:spreadsheet>'
        f"<table:table table:name={quoteattr(sheet)}>{body}</table:table>"
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest xmlns:manifest='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
        'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w") as archive:
        # The mimetype entry comes first and uncompressed, as the ODF package format requires.
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


# The BIFF8 codes of Excel's error values. xlwt's own table lacks #N/A and gives #VALUE! the code
# of #NUM!, so cells are written by code.
_XLS_ERROR_CODES = {
    "#NULL!": 0x00,
    "#DIV/0!": 0x07,
    "#VALUE!": 0x0F,
    "#REF!": 0x17,
    "#NAME?": 0x1D,
    "#NUM!": 0x24,
    "#N/A": 0x2A,
}


@dataclass(frozen=True)
class XlsCell:
    """One .xls cell: an Excel error (``error="#N/A"``) or a number shown with ``num_format``."""

    number: float = 0.0
    num_format: str = "General"
    error: str | None = None

    def write(self, sheet: xlwt.Worksheet, row: int, column: int) -> None:
        if self.error is not None:
            sheet.row(row).set_cell_error(column, _XLS_ERROR_CODES[self.error])
        else:
            sheet.write(row, column, self.number, xlwt.easyxf(num_format_str=self.num_format))


def write_xls(path: Path, sheets: dict[str, Sequence[Sequence[XlsCell | str]]]) -> Path:
    """An Excel 97-2003 .xls with the given sheets, in order."""
    workbook = xlwt.Workbook()
    for name, rows in sheets.items():
        sheet = workbook.add_sheet(name)
        for row_index, row in enumerate(rows):
            for column, cell in enumerate(row):
                if isinstance(cell, str):
                    sheet.write(row_index, column, cell)
                else:
                    cell.write(sheet, row_index, column)
    workbook.save(str(path))
    return path
