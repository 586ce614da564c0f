"""The .xlsx results a person acts on, through the CLI: status colours, errors a line each, the
cell at fault highlighted with a note, a filter and a frozen header, the input's sheet name, and
the input's cell kinds kept (with no formula able to run)."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import xlsxwriter
from conftest import SANDBOX_WRITE_KEY, csv_text, run_cli, sandbox_env
from openpyxl.worksheet.worksheet import Worksheet

from lac_batch.files.results import MAX_NOTES, PROBLEM_CELL_LOOK, STATUS_FILLS
from lac_batch.files.table import MAPPING_SHEET
from lac_batch.model.status import RESULT_COLUMNS, Status
from lac_batch.sandbox import Sandbox

HEADERS = [
    "connection_key",
    "request_type",
    "customer_id",
    "note",
    "metadata.fee:float",
    "metadata.start:date",
    "metadata.vat:bool",
    "metadata.when",
    "metadata.took",
]
SHEET = "Tilaukset Q'1 & co"
BLOCK = len(RESULT_COLUMNS)


def _column(header: str) -> str:
    return openpyxl.utils.get_column_letter(BLOCK + HEADERS.index(header) + 1)


def _requests(path: Path) -> Path:
    """Row 2 valid with every kind of cell; row 3 two bad cells; row 4 an empty key."""
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet(SHEET)
    day = workbook.add_format({"num_format": "d.m.yyyy"})
    moment = workbook.add_format({"num_format": "d.m.yyyy hh:mm:ss"})
    hours = workbook.add_format({"num_format": "[h]:mm:ss"})
    sheet.write_row(0, 0, HEADERS)
    sheet.write_string(1, 0, "bank:op")
    sheet.write_string(1, 1, "setup")
    sheet.write_string(1, 2, "007")
    sheet.write_string(1, 3, "=1+1")
    sheet.write_number(1, 4, 19.9)
    sheet.write_datetime(1, 5, dt.date(2027, 2, 1), day)
    sheet.write_boolean(1, 6, True)
    sheet.write_datetime(1, 7, dt.datetime(2027, 2, 1, 8, 30, 15), moment)
    sheet.write_number(1, 8, 255 / 24 + 10 / 1440, hours)
    sheet.write_row(2, 0, ["bank:op", "sideways"])
    sheet.write_number(2, 2, 12345)
    sheet.write_string(2, 4, "19,90x")
    sheet.write_string(2, 5, "31.2.2027")
    sheet.write_row(3, 0, ["", "setup"])
    sheet.write_number(3, 4, 19.9)
    workbook.close()
    return path


def _validated(tmp_path: Path) -> Worksheet:
    source = _requests(tmp_path / "orders.xlsx")
    assert run_cli("validate", source).exit_code == 1
    workbook = openpyxl.load_workbook(tmp_path / "orders.results.xlsx")
    # The input's sheet first; the hidden sheet after it says how its headers were read.
    assert workbook.sheetnames == [SHEET, MAPPING_SHEET]
    assert workbook[MAPPING_SHEET].sheet_state == "hidden"
    return workbook[SHEET]


def test_status_cells_have_one_fill_per_status(tmp_path: Path) -> None:
    sheet = _validated(tmp_path)
    assert [sheet[f"B{line}"].value for line in (2, 3, 4)] == ["valid", "invalid", "invalid"]
    assert sheet["B2"].fill.fgColor.rgb == "FF" + STATUS_FILLS[Status.VALID]
    assert sheet["B3"].fill.fgColor.rgb == "FF" + STATUS_FILLS[Status.INVALID]
    assert set(STATUS_FILLS) == set(Status)
    assert len(set(STATUS_FILLS.values())) == len(Status)
    assert sheet["A2"].fill.fill_type is None


def test_errors_are_wrapped_one_per_line(tmp_path: Path) -> None:
    sheet = _validated(tmp_path)
    error = sheet["E3"]
    assert error.value.split("\n") == [
        "metadata.fee:float: '19,90x' is not a number",
        "metadata.start:date: '31.2.2027' is not a date: 31 February 2027 does not exist "
        "(February 2027 has 28 days)",
    ]
    assert error.alignment.wrap_text
    # LibreOffice does not size a row to wrapped text: the row has the height its lines need.
    assert sheet.row_dimensions[3].height >= 2 * 15
    assert sheet["E4"].value == "connection_key: is empty; every request needs a value here"


def test_the_cell_at_fault_is_highlighted_with_its_message_as_a_note(tmp_path: Path) -> None:
    sheet = _validated(tmp_path)
    fee, start, key = (
        sheet[f"{_column('metadata.fee:float')}3"],
        sheet[f"{_column('metadata.start:date')}3"],
        sheet[f"{_column('connection_key')}4"],
    )
    for cell in (fee, start, key):
        assert cell.fill.fgColor.rgb == "FF" + PROBLEM_CELL_LOOK.fill
        assert cell.font.color.rgb == "FF" + PROBLEM_CELL_LOOK.colour
    assert fee.comment.text == "metadata.fee:float: '19,90x' is not a number"
    assert start.comment.text.startswith("metadata.start:date: '31.2.2027' is not a date")
    assert key.value is None and key.comment.text.startswith("connection_key: is empty")
    # Only the cells at fault: the good cells of an invalid row are as they were.
    fine = sheet[f"{_column('request_type')}3"]
    assert fine.comment is None and fine.fill.fill_type is None
    assert [cell.coordinate for row in sheet.iter_rows() for cell in row if cell.comment] == [
        fee.coordinate,
        start.coordinate,
        key.coordinate,
    ]


def test_invalid_rows_are_one_filter_away_under_a_frozen_header(tmp_path: Path) -> None:
    sheet = _validated(tmp_path)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{_column(HEADERS[-1])}4"
    with zipfile.ZipFile(tmp_path / "orders.results.xlsx") as archive:
        workbook = archive.read("xl/workbook.xml").decode()
    # The filter's hidden name quotes the sheet name, its apostrophe doubled, XML-escaped.
    assert ">'Tilaukset Q''1 &amp; co'!$A$1:$P$4</definedName>" in workbook


def test_cells_keep_their_kind_and_no_formula_can_run(tmp_path: Path) -> None:
    sheet = _validated(tmp_path)
    row = {header: sheet[f"{_column(header)}2"] for header in HEADERS}
    assert (row["customer_id"].value, row["customer_id"].data_type) == ("007", "s")
    assert (row["note"].value, row["note"].data_type) == ("=1+1", "s")
    assert (row["metadata.fee:float"].value, row["metadata.fee:float"].data_type) == (19.9, "n")
    assert row["metadata.start:date"].value == dt.datetime(2027, 2, 1)
    assert row["metadata.start:date"].is_date
    assert row["metadata.vat:bool"].value is True
    assert row["metadata.when"].value == dt.datetime(2027, 2, 1, 8, 30, 15)
    assert row["metadata.took"].value == dt.timedelta(hours=255, minutes=10)
    assert row["metadata.took"].number_format == "[h]:mm:ss"
    # A number typed as text stays text; a number cell under an error stays a number.
    assert sheet[f"{_column('customer_id')}3"].value == 12345
    assert sheet[f"{_column('metadata.fee:float')}3"].data_type == "s"
    assert sheet[f"{_column('metadata.fee:float')}4"].value == 19.9
    with zipfile.ZipFile(tmp_path / "orders.results.xlsx") as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")


def test_the_results_read_back_as_the_same_rows(tmp_path: Path) -> None:
    _validated(tmp_path)
    assert run_cli("validate", tmp_path / "orders.results.xlsx").exit_code == 1
    first = openpyxl.load_workbook(tmp_path / "orders.results.xlsx")[SHEET]
    again = openpyxl.load_workbook(tmp_path / "orders.results.2.xlsx")[SHEET]
    # The input columns, with their kinds, and the notes come through a second pass unchanged.
    for line in (2, 3, 4):
        for column in range(BLOCK + 1, BLOCK + len(HEADERS) + 1):
            before, after = first.cell(line, column), again.cell(line, column)
            assert (before.value, before.data_type) == (after.value, after.data_type)
            assert (before.comment is None) == (after.comment is None)


def test_csv_results_are_unchanged(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(
        csv_text([["connection_key", "request_type", "metadata.n:int"], ["", "x", "1,5"]]),
        encoding="utf-8",
    )
    assert run_cli("validate", source).exit_code == 1
    text = (tmp_path / "orders.results.csv").read_text(encoding="utf-8-sig")
    assert "connection_key: is empty; every request needs a value here | " in text
    assert "\n" not in text.splitlines()[1]


def test_csv_input_gives_text_cells_on_a_results_sheet(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(
        csv_text([["connection_key", "request_type", "customer_id"], ["a", "setup", "007"]]),
        encoding="utf-8",
    )
    assert run_cli("validate", source, "--results", tmp_path / "out.xlsx").exit_code == 0
    workbook = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert workbook.sheetnames == ["results", MAPPING_SHEET]
    assert workbook["results"]["J2"].value == "007"


def test_notes_stop_at_the_limit_but_every_cell_is_highlighted(tmp_path: Path) -> None:
    source = tmp_path / "many.csv"
    rows = [["connection_key", "request_type"], *([["", "setup"]] * (MAX_NOTES + 5))]
    source.write_text(csv_text(rows), encoding="utf-8")
    assert run_cli("validate", source, "--results", tmp_path / "many.xlsx").exit_code == 1
    sheet = openpyxl.load_workbook(tmp_path / "many.xlsx")["results"]
    keys = [row[0] for row in sheet.iter_rows(min_row=2, min_col=BLOCK + 1, max_col=BLOCK + 1)]
    assert sum(cell.comment is not None for cell in keys) == MAX_NOTES
    assert all(cell.fill.fgColor.rgb == "FF" + PROBLEM_CELL_LOOK.fill for cell in keys)


def test_submit_results_colour_statuses_and_point_at_the_cell(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    source = _requests(tmp_path / "orders.xlsx")
    outcome = run_cli("submit", source, "--rate", "200", env=sandbox_env(sandbox))
    assert outcome.exit_code == 1, outcome.output
    sheet = openpyxl.load_workbook(tmp_path / "orders.results.xlsx")[SHEET]
    # The sandbox refuses customer 007; what matters is a sent row's status in its colour.
    assert sheet["B2"].value == "rejected"
    assert sheet["B2"].fill.fgColor.rgb == "FF" + STATUS_FILLS[Status.REJECTED]
    assert sheet["E3"].value.count("\n") == 1
    assert sheet[f"{_column('metadata.fee:float')}3"].comment is not None
    assert sheet[f"{_column('metadata.start:date')}2"].is_date


# A client's export: a title and a blank row above its header (row 3), its own column names.
MAPPED_HEADER = ["Yhteys", "request_type", "Maksu"]
MAPS = ("--map", "Yhteys=connection_key", "--map", "Maksu=metadata.fee:float")


def _mapped_export(path: Path) -> Path:
    """Row 4 valid; row 5 a fee that is no number (column C, under the header 'Maksu')."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (
        ["Palvelupyynnöt, maaliskuu"],
        [],
        MAPPED_HEADER,
        ["bank:op", "setup", 19.9],
        ["bank:nordea", "setup", "19,90x"],
    ):
        sheet.append(row)
    book.save(path)
    return path


def _noted_cells(sheet: Worksheet) -> dict[str, str]:
    return {
        cell.coordinate: cell.comment.text
        for row in sheet.iter_rows()
        for cell in row
        if cell.comment is not None
    }


def _fee_cell(line: int) -> str:
    return f"{openpyxl.utils.get_column_letter(BLOCK + MAPPED_HEADER.index('Maksu') + 1)}{line}"


def _assert_noted_on_its_own_row(path: Path) -> None:
    """The note sits on the bad cell's own spreadsheet row (5), below the kept title."""
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["Sheet", MAPPING_SHEET]
    assert workbook[MAPPING_SHEET].sheet_state == "hidden"
    sheet = workbook["Sheet"]
    assert sheet["A1"].value == "Palvelupyynnöt, maaliskuu"
    assert [cell.value for cell in sheet[3]][BLOCK:] == MAPPED_HEADER
    assert [sheet[f"A{line}"].value for line in (4, 5)] == [4, 5]
    notes = _noted_cells(sheet)
    assert list(notes) == [_fee_cell(5)]
    assert "Maksu" in notes[_fee_cell(5)] and "19,90x" in notes[_fee_cell(5)]
    assert sheet[_fee_cell(5)].fill.fgColor.rgb == "FF" + PROBLEM_CELL_LOOK.fill
    assert sheet[_fee_cell(4)].value == 19.9  # a number stays a number below a title too
    assert sheet.freeze_panes == "A4" and sheet.auto_filter.ref.startswith("A3:")


def test_a_mapped_file_below_a_title_has_its_notes_on_the_cells_real_address(
    tmp_path: Path,
) -> None:
    source = _mapped_export(tmp_path / "export.xlsx")
    assert run_cli("validate", source, *MAPS).exit_code == 1
    results = tmp_path / "export.results.xlsx"
    _assert_noted_on_its_own_row(results)
    # Fed back without flags, the results file is read with the same mapping.
    again = run_cli("validate", results, "--results", tmp_path / "again.xlsx")
    assert again.exit_code == 1, again.output
    assert "column 'Yhteys' → connection_key" in again.stdout
    assert "column 'Maksu' → metadata.fee" in again.stdout
    _assert_noted_on_its_own_row(tmp_path / "again.xlsx")


def test_report_rebuilds_a_workbook_with_notes_and_errors_a_line_each(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    source = _mapped_export(tmp_path / "export.xlsx")
    sent = run_cli("submit", source, *MAPS, "--rate", "200", env=sandbox_env(sandbox))
    assert sent.exit_code == 1, sent.output
    results = tmp_path / "export.results.xlsx"
    written = openpyxl.load_workbook(results)["Sheet"]
    first = {line: written[f"E{line}"].value for line in (4, 5)}
    results.unlink()
    rebuilt = run_cli("report", "--file", source)
    assert rebuilt.exit_code == 0, rebuilt.output
    _assert_noted_on_its_own_row(results)
    assert {
        line: openpyxl.load_workbook(results)["Sheet"][f"E{line}"].value for line in (4, 5)
    } == first


def test_report_rebuilds_an_invalid_rows_errors_a_line_each(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    source = _requests(tmp_path / "orders.xlsx")
    assert run_cli("submit", source, "--rate", "200", env=sandbox_env(sandbox)).exit_code == 1
    results = tmp_path / "orders.results.xlsx"
    results.unlink()
    assert run_cli("report", "--file", source).exit_code == 0
    sheet = openpyxl.load_workbook(results)[SHEET]
    assert sheet["E3"].value.count("\n") == 1 and " | " not in sheet["E3"].value
    assert sheet[f"{_column('metadata.fee:float')}3"].comment is not None
    assert sheet[f"{_column('metadata.start:date')}3"].comment is not None


def test_the_pages_other_results_file_has_notes_and_errors_a_line_each(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path
) -> None:
    import asyncio

    from lac_batch.jobs.submit import SubmitOptions
    from lac_batch.sending.credentials import ApiKey
    from lac_batch.web.runs import PageRun, run_submit

    source = _requests(tmp_path / "orders.xlsx")
    options = SubmitOptions(base_url=sandbox.base_url, api_key=ApiKey(SANDBOX_WRITE_KEY))
    run = PageRun(1, source, "sandbox")
    asyncio.run(run_submit(run, options, private_ledger, tmp_path / "orders.results.csv"))
    assert run.problem == ""
    assert [path.name for path in run.results] == ["orders.results.csv", "orders.results.xlsx"]
    sheet = openpyxl.load_workbook(run.results[1])[SHEET]
    assert sheet["E3"].value.count("\n") == 1
    assert sheet[f"{_column('metadata.fee:float')}3"].comment is not None
