"""A minimal streaming .xlsx writer for the results sheet: one sheet, a bold frozen header row,
typed cells (numbers, dates, durations, booleans), cell looks (fill, font colour, wrap) and notes.

XlsxWriter spends several Python calls on every cell (about 11 µs each, 17 s for a 100k-row
results file); this writes each row's XML with one f-string per cell and streams it into the
zip, about ten times faster. Cells are written exactly as XlsxWriter's ``constant_memory`` mode
writes them (inline strings with ``_xHHHH_`` escapes, numbers as ``%.16G``), so every reader
that read those files reads these the same way.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lac_batch.model.columns import column_letter

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

Value = str | int | float | bool | dt.date | dt.datetime | dt.timedelta
"""Text (``""`` leaves the cell empty, never a formula), a number, a boolean, a date, a date and
time, or a duration; each written as that kind of cell, with its number format."""


@dataclass(frozen=True, slots=True)
class Look:
    """How a cell looks beyond its value's own number format."""

    fill: str = ""
    """Background colour, ``RRGGBB``; "" for none."""
    colour: str = ""
    """Font colour, ``RRGGBB``; "" for the default."""
    wrap: bool = False
    """Wrap the text at the column's width and at every line break."""
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Styled:
    """A value with a look, and a note (a cell comment) when ``note`` is not empty."""

    value: Value
    look: Look
    note: str = ""


Cell = Value | Styled

_HEADER_LOOK = Look(bold=True)
# Built-in number formats: d/m/yyyy (as the reader's locale shows it), d/m/yyyy h:mm, [h]:mm:ss.
_DATE_FORMAT, _DATETIME_FORMAT, _DURATION_FORMAT = 14, 22, 46
# Excel's day 0 is 1899-12-31 and it counts a 29 February 1900 that never was (Lotus's bug):
# from 1 March 1900 on, serial numbers count from 1899-12-30. Earlier days are written as text.
_EPOCH = dt.datetime(1899, 12, 30)
_FIRST_SERIAL_DAY = dt.date(1900, 3, 1)
_SECONDS_PER_DAY = 86400

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


class _Styles:
    """The cell formats a sheet uses, numbered as written: format 0 is the default."""

    def __init__(self) -> None:
        self._fonts: dict[tuple[bool, str], int] = {(False, ""): 0}
        # The first two fills are the ones Excel requires.
        self._fills: dict[str, int] = {"": 0, "gray125": 1}
        self._formats: dict[tuple[int, Look], int] = {(0, Look()): 0}
        self._by_identity: dict[int, tuple[Look, dict[int, int]]] = {}

    def index(self, number_format: int, look: Look) -> int:
        """The ``s`` attribute of a cell with this number format and look."""
        # By the look's identity first: hashing a dataclass costs more than the cell's XML.
        known = self._by_identity.get(id(look))
        if known is not None and known[0] is look and number_format in known[1]:
            return known[1][number_format]
        key = (number_format, look)
        found = self._formats.get(key)
        if found is None:
            self._fonts.setdefault((look.bold, look.colour), len(self._fonts))
            if look.fill:
                self._fills.setdefault(look.fill, len(self._fills))
            found = self._formats[key] = len(self._formats)
        # The entry holds the look, so its id cannot be reused by another while it is here.
        self._by_identity.setdefault(id(look), (look, {}))[1][number_format] = found
        return found

    def xml(self) -> str:
        fonts = "".join(
            "<font>"
            + ("<b/>" if bold else "")
            + '<sz val="11"/>'
            + (f'<color rgb="FF{colour}"/>' if colour else "")
            + '<name val="Calibri"/><family val="2"/></font>'
            for bold, colour in self._fonts
        )
        fills = "".join(
            f'<fill><patternFill patternType="{fill or "none"}"/></fill>'
            if fill in ("", "gray125")
            else f'<fill><patternFill patternType="solid"><fgColor rgb="FF{fill}"/>'
            '<bgColor indexed="64"/></patternFill></fill>'
            for fill in self._fills
        )
        formats = "".join(
            self._format_xml(number_format, look) for number_format, look in self._formats
        )
        return (
            _XML_DECLARATION + f'<styleSheet xmlns="{_MAIN}">'
            f'<fonts count="{len(self._fonts)}">{fonts}</fonts>'
            f'<fills count="{len(self._fills)}">{fills}</fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            # The cell style top-aligned too: LibreOffice gives it to cells without a format.
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0">'
            '<alignment vertical="top"/></xf></cellStyleXfs>'
            f'<cellXfs count="{len(self._formats)}">{formats}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        )

    def _format_xml(self, number_format: int, look: Look) -> str:
        font = self._fonts[(look.bold, look.colour)]
        fill = self._fills[look.fill]
        attributes = (
            f'numFmtId="{number_format}" fontId="{font}" fillId="{fill}" borderId="0" xfId="0"'
            + (' applyNumberFormat="1"' if number_format else "")
            + (' applyFont="1"' if font else "")
            + (' applyFill="1"' if fill else "")
        )
        # Top-aligned, so a row made tall by a wrapped cell reads from its first line.
        wrap = ' wrapText="1"' if look.wrap else ""
        return f'<xf {attributes} applyAlignment="1"><alignment vertical="top"{wrap}/></xf>'


_SHEET_NAME = "results"
# Excel refuses these in a sheet name, and a name longer than 31 characters.
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_MAX_SHEET_NAME = 31
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


def _serial(value: dt.date | dt.datetime) -> float | None:
    """Excel's day number of a date or date-time; None before 1 March 1900."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
    if moment.tzinfo is not None or moment.date() < _FIRST_SERIAL_DAY:
        return None
    delta = moment - _EPOCH
    if not delta.seconds and not delta.microseconds:
        return float(delta.days)
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / _SECONDS_PER_DAY


def _value_xml(reference: str, value: Value, look: Look, styles: _Styles) -> str:
    """One cell of any value; a value Excel cannot hold as its kind is written as its text."""
    number_format = 0
    kind = ""
    if isinstance(value, bool):
        kind, text = ' t="b"', "1" if value else "0"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        # repr: the shortest text that reads back as exactly this number.
        text = repr(value) if value == value and abs(value) != float("inf") else ""
    elif isinstance(value, dt.date):
        serial = _serial(value)
        text = "" if serial is None else repr(serial)
        number_format = _DATETIME_FORMAT if isinstance(value, dt.datetime) else _DATE_FORMAT
    elif isinstance(value, dt.timedelta):
        # Excel shows no negative time: such a duration stays text.
        days = value / dt.timedelta(days=1)
        text = repr(days) if days >= 0 else ""
        number_format = _DURATION_FORMAT
    else:
        text = ""
    if not text:
        shown = value if isinstance(value, str) else _fallback_text(value)
        style = styles.index(0, look)
        if not shown:
            return f'<c r="{reference}" s="{style}"/>' if style else ""
        return _text_cell(reference, shown, f' s="{style}"' if style else "")
    style = styles.index(number_format, look)
    attribute = f' s="{style}"' if style else ""
    return f'<c r="{reference}"{attribute}{kind}><v>{text}</v></c>'


def _fallback_text(value: Value) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


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


def _wrapped_lines(text: str, width: float) -> int:
    """About how many lines ``text`` takes wrapped in a column ``width`` characters wide."""
    per_line = max(int(width) - 1, 1)
    return sum(max(-(-len(line) // per_line), 1) for line in text.split("\n"))


def _row_xml(
    line: str,
    letters: Sequence[str],
    cells: Sequence[Cell],
    styles: _Styles,
    notes: list[tuple[str, str]],
    widths: Sequence[float],
) -> str:
    careful = _needs_care([cell for cell in cells if isinstance(cell, str)])
    parts: list[str] = []
    lines = 1
    for position, (letter, cell) in enumerate(zip(letters, cells, strict=False)):
        kind = type(cell)
        if kind is str:
            if not cell:
                continue
            if careful:
                # The rare row that needs care: every text cell goes the careful way.
                parts.append(_text_cell(letter + line, cell))  # type: ignore[arg-type]
            else:
                parts.append(f'<c r="{letter}{line}" t="inlineStr"><is><t>{cell}</t></is></c>')
        elif kind is int:
            parts.append(f'<c r="{letter}{line}"><v>{cell}</v></c>')
        elif isinstance(cell, Styled):
            parts.append(_value_xml(letter + line, cell.value, cell.look, styles))
            if cell.note:
                notes.append((letter + line, cell.note))
            if cell.look.wrap and isinstance(cell.value, str) and position < len(widths):
                lines = max(lines, _wrapped_lines(cell.value, widths[position]))
        else:
            parts.append(_value_xml(letter + line, cell, _PLAIN, styles))
    if lines > 1:
        # Not every program sizes a row to its wrapped text when opening the file (LibreOffice
        # does not): the row gets the height its lines need.
        height = lines * _LINE_HEIGHT
        return f'<row r="{line}" ht="{height}" customHeight="1">{"".join(parts)}</row>'
    return f'<row r="{line}">{"".join(parts)}</row>'


_LINE_HEIGHT = 15


_PLAIN = Look()


def _column_width(width: float) -> float:
    """A width in characters as Excel stores it (XlsxWriter's conversion, Calibri 11)."""
    pixels = int(width * 7 + 0.5) + 5 if width >= 1 else int(width * 12 + 0.5)
    return int(pixels / 7 * 256) / 256


def sheet_title(name: str | None) -> str:
    """``name`` as Excel accepts it for a sheet (``results`` when there is none left)."""
    title = _NOT_IN_SHEET_NAMES.sub("_", name or "")[:_MAX_SHEET_NAME].strip("'")
    # Excel keeps "History" for itself.
    return title if title.strip() and title.casefold() != "history" else _SHEET_NAME


def _attribute_text(text: str) -> str:
    return _escaped(text).replace('"', "&quot;")


def _workbook_xml(sheet_name: str, filter_range: str, hidden_name: str) -> str:
    # In a formula a sheet name in quotes is always right; a quote inside is doubled.
    quoted = "'" + sheet_name.replace("'", "''") + "'"
    return (
        _XML_DECLARATION + f'<workbook xmlns="{_MAIN}" xmlns:r="{_OFFICE_RELS}">'
        f'<sheets><sheet name="{_attribute_text(sheet_name)}" sheetId="1" r:id="rId1"/>'
        f'<sheet name="{_attribute_text(hidden_name)}" sheetId="2" state="hidden" r:id="rId3"/>'
        "</sheets>"
        # Excel keeps an autofilter's range in this hidden name as well as in the sheet.
        '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
        f"{_escaped(quoted)}!{filter_range}</definedName></definedNames>"
        "</workbook>"
    )


def _sheet_parts(
    letters: Sequence[str],
    headers: Sequence[str],
    row_count: int,
    widths: Sequence[float],
    styles: _Styles,
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
    bold = f' s="{styles.index(0, _HEADER_LOOK)}"'
    header = "".join(
        f'<c r="{letter}{top}"{bold}/>' if not text else _text_cell(f"{letter}{top}", text, bold)
        for letter, text in zip(letters, headers, strict=True)
    )
    # Rows of text only: no note, no look, no wrapping.
    titles = "".join(_plain_row_xml(line, cells, styles) for line, cells in enumerate(above, 1))
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


def _plain_row_xml(line: int, cells: Sequence[str], styles: _Styles) -> str:
    letters = [column_letter(index) for index in range(len(cells))]
    return _row_xml(str(line), letters, cells, styles, [], ())


def _hidden_sheet_xml(rows: Sequence[Sequence[str]], styles: _Styles) -> str:
    lines = "".join(_plain_row_xml(line, cells, styles) for line, cells in enumerate(rows, 1))
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
    sheet_name: str | None = None,
) -> None:
    """Write one sheet (``sheet_name`` as Excel allows it, else ``results``): ``headers`` (bold,
    frozen, with an autofilter), then the ``row_count`` rows that ``rows()`` yields; ``extras``
    the rows above the header and the hidden sheet.

    Each row has at most ``len(headers)`` cells; ``""`` leaves a cell empty, every text is text
    (never a formula), and every other :data:`Value` its own kind of cell.
    """
    if not headers:
        raise ValueError("a results sheet needs at least one column")
    extras = extras or SheetExtras()
    title = sheet_title(sheet_name)
    if title.casefold() == extras.hidden_name.casefold():
        # Two sheets of one name make a workbook Excel refuses to open.
        title = _SHEET_NAME
    try:
        _write_package(path, headers, rows(), row_count, widths, extras, title, zip64=False)
    except _SheetTooLarge:
        # Zip64 records only when needed: some Excel versions refuse them on small files.
        _write_package(path, headers, rows(), row_count, widths, extras, title, zip64=True)


class _SheetTooLarge(Exception):
    pass


def _write_package(
    path: Path,
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    row_count: int,
    widths: Sequence[float],
    extras: SheetExtras,
    sheet_name: str,
    *,
    zip64: bool,
) -> None:
    letters = [column_letter(position) for position in range(len(headers))]
    styles = _Styles()
    notes: list[tuple[str, str]] = []
    head, tail, filter_range = _sheet_parts(
        letters, headers, row_count, widths, styles, extras.above
    )
    # The header's row and the rows above it come first: a note's reference is the row's own.
    first_line = len(extras.above) + 2
    # Level 1 compresses sheet XML nearly as well as the default and several times faster.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr(
            "xl/workbook.xml", _workbook_xml(sheet_name, filter_range, extras.hidden_name)
        )
        archive.writestr("xl/worksheets/sheet2.xml", _hidden_sheet_xml(extras.hidden_rows, styles))
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        try:
            with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=zip64) as sheet:
                sheet.write(head.encode("utf-8"))
                chunk: list[str] = []
                for line, cells in enumerate(rows, start=first_line):
                    chunk.append(_row_xml(str(line), letters, cells, styles, notes, widths))
                    if len(chunk) >= 1000:
                        sheet.write("".join(chunk).encode("utf-8"))
                        chunk.clear()
                if notes:
                    tail = tail.removesuffix("</worksheet>") + _LEGACY_DRAWING + "</worksheet>"
                sheet.write(("".join(chunk) + tail).encode("utf-8"))
        except RuntimeError as error:
            # zipfile's word for a member over 2 GiB written without zip64 records.
            if zip64 or "force_zip64" not in str(error):
                raise
            raise _SheetTooLarge from None
        # Written after the rows, which are what tells the formats and notes in use.
        archive.writestr("xl/styles.xml", styles.xml())
        content_types = _CONTENT_TYPES
        if notes:
            archive.writestr("xl/worksheets/_rels/sheet1.xml.rels", _SHEET_RELS)
            archive.writestr("xl/comments1.xml", _comments_xml(notes))
            archive.writestr("xl/drawings/vmlDrawing1.vml", _vml_xml(notes))
            content_types = content_types.replace("</Types>", _NOTES_CONTENT_TYPES + "</Types>")
        archive.writestr("[Content_Types].xml", content_types)


# Cell notes: the comments part holds their text, a VML drawing their boxes (as Excel and
# XlsxWriter write them; without the drawing Excel shows no note).
_LEGACY_DRAWING = '<legacyDrawing r:id="rId2"/>'
_SHEET_RELS = (
    _XML_DECLARATION + f'<Relationships xmlns="{_PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/comments" Target="../comments1.xml"/>'
    f'<Relationship Id="rId2" Type="{_OFFICE_RELS}/vmlDrawing" '
    'Target="../drawings/vmlDrawing1.vml"/>'
    "</Relationships>"
)
_NOTES_CONTENT_TYPES = (
    '<Default Extension="vml" ContentType="application/vnd.openxmlformats-officedocument.'
    'vmlDrawing"/>'
    f'<Override PartName="/xl/comments1.xml" ContentType="{_CONTENT_TYPE}.comments+xml"/>'
)
_NOTE_AUTHOR = "lac-batch"
_SHAPES_PER_BLOCK = 1024


def _comments_xml(notes: Sequence[tuple[str, str]]) -> str:
    comments = "".join(
        f'<comment ref="{reference}" authorId="0"><text><r><rPr><sz val="9"/>'
        '<color indexed="81"/><rFont val="Tahoma"/><family val="2"/></rPr>'
        f'<t xml:space="preserve">{_escaped(_utf16_truncate(text))}</t></r></text></comment>'
        for reference, text in notes
    )
    return (
        _XML_DECLARATION + f'<comments xmlns="{_MAIN}"><authors><author>{_NOTE_AUTHOR}</author>'
        f"</authors><commentList>{comments}</commentList></comments>"
    )


def _cell_position(reference: str) -> tuple[int, int]:
    """``"E5"`` → (row 4, column 4), both 0-based."""
    letters = reference.rstrip("0123456789")
    column = 0
    for letter in letters:
        column = column * 26 + ord(letter) - ord("A") + 1
    return int(reference[len(letters) :]) - 1, column - 1


def _vml_xml(notes: Sequence[tuple[str, str]]) -> str:
    shapes: list[str] = []
    for number, (reference, _) in enumerate(notes, start=1):
        row, column = _cell_position(reference)
        # The box sits right of the cell, a row above it (as Excel places a new note).
        top = max(row - 1, 0)
        anchor = f"{column + 1}, 15, {top}, 10, {column + 4}, 15, {top + 4}, 4"
        shapes.append(
            f'<v:shape id="_x0000_s{_SHAPES_PER_BLOCK + number}" type="#_x0000_t202" '
            'style="position:absolute;margin-left:59.25pt;margin-top:1.5pt;width:200pt;'
            'height:60pt;z-index:1;visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto">'
            '<v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/>'
            '<v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
            '<div style="text-align:left"></div></v:textbox>'
            '<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
            f"<x:Anchor>{anchor}</x:Anchor><x:AutoFill>False</x:AutoFill>"
            f"<x:Row>{row}</x:Row><x:Column>{column}</x:Column></x:ClientData></v:shape>"
        )
    # Each block of shape ids the drawing uses is named in its idmap.
    blocks = (_SHAPES_PER_BLOCK + len(notes)) // _SHAPES_PER_BLOCK
    idmap = ",".join(str(block) for block in range(1, blocks + 1))
    return (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" '
        'xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel">'
        f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{idmap}"/></o:shapelayout>'
        '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" '
        'path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
        '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
        + "".join(shapes)
        + "</xml>"
    )
