"""Workbooks as other writers make them, read through the CLI as any request file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from conftest import run_cli
from workbook_parts import (
    DATE_STYLE,
    DURATION_STYLE,
    OdsCell,
    XlsCell,
    XlsxCell,
    write_ods,
    write_xls,
    write_xlsx,
)

from lac_batch.files.excel_reader import excel_cell_text

REQUEST_ROWS = [["connection_key", "request_type", "note"], ["pankki", "setup", "hello"]]


def results_rows(path: Path) -> list[dict[str, str]]:
    """Each row's cells as the reader's text: the results keep dates and durations as such."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = [[excel_cell_text(cell) for cell in row] for row in workbook.active.values]
    finally:
        workbook.close()
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def validated(path: Path, exit_code: int) -> list[tuple[str, str]]:
    """``validate PATH`` through the CLI: (status, error) of each row of its results file."""
    outcome = run_cli("validate", path)
    assert outcome.exit_code == exit_code, outcome.output
    results = results_rows(path.with_name(f"{path.stem}.results.xlsx"))
    return [(row["status"], row["error"]) for row in results]


@pytest.mark.parametrize(
    "layout",
    [{"workbook_part": "workbook.xml"}, {"backslashes": True}],
    ids=["workbook-at-package-root", "backslash-entry-names"],
)
def test_workbook_found_through_package_relationships_reads_as_any_xlsx(
    tmp_path: Path, layout: dict[str, object]
) -> None:
    path = write_xlsx(tmp_path / "in.xlsx", REQUEST_ROWS, **layout)  # type: ignore[arg-type]
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 0, outcome.output
    assert results_rows(tmp_path / "in.results.xlsx")[0]["status"] == "valid"


@pytest.mark.parametrize(
    "layout",
    [{"workbook_part": "workbook.xml"}, {"backslashes": True}, {}],
    ids=["workbook-at-package-root", "backslash-entry-names", "usual-layout"],
)
def test_formula_without_value_is_found_wherever_the_sheet_lives(
    tmp_path: Path, layout: dict[str, object]
) -> None:
    rows = [
        ["connection_key", "request_type"],
        ["pankki", XlsxCell("f", formula='CONCAT("se","tup")')],
    ]
    path = write_xlsx(tmp_path / "in.xlsx", rows, **layout)  # type: ignore[arg-type]
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 1, outcome.output
    row = results_rows(tmp_path / "in.results.xlsx")[0]
    assert row["status"] == "invalid"
    assert row["error"].startswith("request_type: is a formula with no saved value")


def test_sheet_the_formula_pass_cannot_parse_is_a_one_paragraph_error(tmp_path: Path) -> None:
    # An entity declaration: calamine ignores it; the XML pass (defusedxml) refuses it.
    sheet_xml = (
        '<?xml version="1.0"?>\n<!DOCTYPE worksheet [<!ENTITY x "setup">]>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>connection_key</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>request_type</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>a</t></is></c>'
        '<c r="B2"><f>1+1</f><v>2</v></c></row></sheetData></worksheet>'
    )
    path = write_xlsx(tmp_path / "in.xlsx", [], sheet_xml=sheet_xml)
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 2, outcome.output
    assert str(path) in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
    assert not (tmp_path / "in.results.xlsx").exists()


def failed_lookup(error: str = "#N/A") -> XlsxCell:
    return XlsxCell("e", error, formula="VLOOKUP(A2,Asiakkaat!A:B,2,FALSE)")


def test_excel_error_in_an_xlsx_cell_makes_the_row_invalid_naming_the_error(
    tmp_path: Path,
) -> None:
    rows = [
        ["connection_key", "request_type", "metadata.branch", "note"],
        ["pankki", "setup", failed_lookup(), "ok"],
        [failed_lookup("#REF!"), "setup", "Espoo", XlsxCell("e", "#DIV/0!", formula="1/0")],
        ["stripe", "setup", "Espoo", "fine"],
    ]
    assert validated(write_xlsx(tmp_path / "in.xlsx", rows), 1) == [
        ("invalid", "metadata.branch: holds the Excel error #N/A: fix the formula"),
        (
            "invalid",
            "connection_key: holds the Excel error #REF!: fix the formula\n"
            "note: holds the Excel error #DIV/0!: fix the formula",
        ),
        ("valid", ""),
    ]


def test_error_cell_in_an_ods_sheet_makes_the_row_invalid_naming_the_error(
    tmp_path: Path,
) -> None:
    # As LibreOffice Calc writes a failed lookup and a division by zero.
    rows = [
        ["connection_key", "request_type", "note"],
        [
            "pankki",
            "setup",
            OdsCell(
                'table:formula="of:=VLOOKUP([.A2];$Asiakkaat.A:B;2;0)" office:value-type="string" '
                'office:string-value="" calcext:value-type="error"',
                "#N/A",
            ),
        ],
        [
            "stripe",
            OdsCell(
                'table:formula="of:=1/0" office:value-type="float" office:value="0" '
                'calcext:value-type="error"',
                "#DIV/0!",
            ),
            "ok",
        ],
    ]
    assert validated(write_ods(tmp_path / "in.ods", rows), 1) == [
        ("invalid", "note: holds the Excel error #N/A: fix the formula"),
        ("invalid", "request_type: holds the Excel error #DIV/0!: fix the formula"),
    ]
    # The 0 LibreOffice stores beside the error is no value of the cell.
    assert results_rows(tmp_path / "in.results.xlsx")[1]["request_type"] == ""


def test_error_cell_in_an_xls_sheet_makes_the_row_invalid_naming_the_error(
    tmp_path: Path,
) -> None:
    rows = [
        ["connection_key", "request_type", "metadata.branch", "note"],
        ["pankki", "setup", XlsCell(error="#N/A"), "ok"],
        [XlsCell(error="#REF!"), "setup", "Espoo", XlsCell(error="#DIV/0!")],
        ["stripe", "setup", "Espoo", XlsCell(error="#VALUE!")],
        ["kassa", "setup", XlsCell(error="#NAME?"), XlsCell(error="#NUM!")],
        ["posti", "setup", "Espoo", XlsCell(error="#NULL!")],
        ["kela", "setup", "Espoo", "fine"],
    ]
    path = write_xls(tmp_path / "in.xls", {"Pyynnöt": rows})
    assert validated(path, 1) == [
        ("invalid", "metadata.branch: holds the Excel error #N/A: fix the formula"),
        (
            "invalid",
            "connection_key: holds the Excel error #REF!: fix the formula\n"
            "note: holds the Excel error #DIV/0!: fix the formula",
        ),
        ("invalid", "note: holds the Excel error #VALUE!: fix the formula"),
        (
            "invalid",
            "metadata.branch: holds the Excel error #NAME?: fix the formula\n"
            "note: holds the Excel error #NUM!: fix the formula",
        ),
        ("invalid", "note: holds the Excel error #NULL!: fix the formula"),
        ("valid", ""),
    ]


def test_errors_in_an_xls_sheet_not_chosen_do_not_count(tmp_path: Path) -> None:
    requests = [["connection_key", "request_type"], ["pankki", "setup"]]
    lookups = [["asiakas", "haku"], ["pankki", XlsCell(error="#N/A")]]
    path = write_xls(tmp_path / "in.xls", {"Haut": lookups, "Pyynnöt": requests})
    outcome = run_cli("validate", path, "--sheet", "Pyynnöt")
    assert outcome.exit_code == 0, outcome.output
    assert results_rows(tmp_path / "in.results.xlsx")[0]["status"] == "valid"


def test_error_cell_making_a_whole_xls_row_is_kept_and_invalid(tmp_path: Path) -> None:
    rows = [
        ["connection_key", "request_type"],
        [XlsCell(error="#N/A"), XlsCell(error="#N/A")],
        ["pankki", "setup"],
    ]
    assert validated(write_xls(tmp_path / "in.xls", {"Sheet1": rows}), 1) == [
        (
            "invalid",
            "connection_key: holds the Excel error #N/A: fix the formula\n"
            "request_type: holds the Excel error #N/A: fix the formula",
        ),
        ("valid", ""),
    ]


def test_xls_the_error_pass_cannot_read_is_a_one_paragraph_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xlrd

    def refuse(*args: object, **kwargs: object) -> None:
        # What xlrd raises on a damaged record calamine tolerated.
        raise xlrd.XLRDError("Can't find workbook in OLE2 compound document")

    monkeypatch.setattr(xlrd, "open_workbook", refuse)
    path = write_xls(tmp_path / "in.xls", {"Sheet1": REQUEST_ROWS})
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 2, outcome.output
    assert outcome.stderr.strip().splitlines() == [
        f"Error: {path}: sheet 'Sheet1' cannot be checked for Excel errors (XLRDError: Can't "
        "find workbook in OLE2 compound document). Open it in Excel and save it again as .xlsx."
    ]
    assert not (tmp_path / "in.results.xlsx").exists()


def _limit_memory() -> None:
    import resource

    # Far above what reading a two-row sheet needs, far below a cell-by-cell walk of a whole sheet.
    limit = 4 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.skipif(sys.platform == "win32", reason="the memory limit is set with setrlimit")
def test_ods_with_calc_padding_rows_reads_in_bounded_memory(tmp_path: Path) -> None:
    # Calc writes the unused rest of every sheet as a million rows of 16,384 empty cells; a
    # duration cell makes the extra pass read the sheet's XML.
    duration = OdsCell(
        'office:value-type="time" office:time-value="PT255H10M10.000000001S" '
        'calcext:value-type="time"',
        "255:10:10",
    )
    rows = [["connection_key", "request_type", "metadata.took"], ["pankki", "setup", duration]]
    path = write_ods(tmp_path / "in.ods", rows, empty_rest=True)
    finished = subprocess.run(
        [sys.executable, "-m", "lac_batch", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    assert finished.returncode == 0, finished.stderr
    assert results_rows(tmp_path / "in.results.xlsx")[0]["metadata.took"] == "255:10:10"


# 255 hours, 10 minutes, 10 seconds; 20 October 2016.
DURATION_DAYS = "10.63206018518519"
DATE_SERIAL = "42663"


def test_dates_and_durations_read_as_the_same_text_from_xlsx_xls_and_ods(tmp_path: Path) -> None:
    header = ["connection_key", "request_type", "metadata.day", "metadata.took", "metadata.short"]
    for folder in ("xlsx", "xls", "ods"):
        (tmp_path / folder).mkdir()
    xlsx = write_xlsx(
        tmp_path / "xlsx" / "in.xlsx",
        [
            header,
            [
                "pankki",
                "setup",
                XlsxCell("n", DATE_SERIAL, style=DATE_STYLE),
                XlsxCell("n", DURATION_DAYS, style=DURATION_STYLE),
                XlsxCell("n", str(1.5 / 24), style=DURATION_STYLE),
            ],
        ],
    )
    xls_row = [
        "pankki",
        "setup",
        # A date-time format at midnight: the date alone.
        XlsCell(float(DATE_SERIAL), "YYYY-MM-DD hh:mm:ss"),
        XlsCell(float(DURATION_DAYS), "[hh]:mm:ss"),
        XlsCell(1.5 / 24, "[hh]:mm:ss"),
    ]
    xls = write_xls(tmp_path / "xls" / "in.xls", {"Sheet1": [header, xls_row]})
    ods = write_ods(
        tmp_path / "ods" / "in.ods",
        [
            header,
            [
                "pankki",
                "setup",
                OdsCell('office:value-type="date" office:date-value="2016-10-20T00:00:00"', "x"),
                # LibreOffice writes the binary fraction it holds, hence the nanosecond.
                OdsCell(
                    'office:value-type="time" office:time-value="PT255H10M10.000000001S"',
                    "255:10:10",
                ),
                OdsCell('office:value-type="time" office:time-value="PT01H30M00S"', "01:30:00"),
            ],
        ],
    )
    for path in (xlsx, xls, ods):
        outcome = run_cli("validate", path)
        assert outcome.exit_code == 0, outcome.output
    expected = {
        "metadata.day": "2016-10-20",
        "metadata.took": "255:10:10",
        "metadata.short": "01:30:00",
    }
    for path in (xlsx, xls, ods):
        row = results_rows(path.with_name("in.results.xlsx"))[0]
        assert {column: row[column] for column in expected} == expected, path


def test_c1_control_character_in_a_request_column_makes_the_row_invalid(tmp_path: Path) -> None:
    # "Kahvila Äijä" from an Excel 5/95 file read with the wrong code page.
    rows = [
        ["connection_key", "request_type", "customer_id"],
        ["Kahvila \x8eij\x84", "setup", "0123456-7"],
        ["pankki", "setup\x85", "0123456-7"],
        ["stripe", "setup", "0123\x96456-7"],
    ]
    results = validated(write_xlsx(tmp_path / "in.xlsx", rows), 1)
    assert [status for status, _error in results] == ["invalid"] * 3
    assert [error.partition(":")[0] for _status, error in results] == [
        "connection_key",
        "request_type",
        "customer_id",
    ]
    assert "control character" in results[0][1]


def test_prefixed_sheet_xml_without_cell_references_still_finds_errors(tmp_path: Path) -> None:
    # Some writers prefix the namespace (x:) and leave out r= on rows and cells.
    sheet_xml = (
        '<?xml version="1.0"?>\n<x:worksheet '
        'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>'
        '<x:row><x:c t="inlineStr"><x:is><x:t>connection_key</x:t></x:is></x:c>'
        '<x:c t="inlineStr"><x:is><x:t>request_type</x:t></x:is></x:c></x:row>'
        '<x:row><x:c t="inlineStr"><x:is><x:t>pankki</x:t></x:is></x:c>'
        '<x:c t="e"><x:f>NA()</x:f><x:v>#N/A</x:v></x:c></x:row>'
        "</x:sheetData></x:worksheet>"
    )
    path = write_xlsx(tmp_path / "in.xlsx", [], sheet_xml=sheet_xml)
    assert validated(path, 1) == [
        ("invalid", "request_type: holds the Excel error #N/A: fix the formula")
    ]
