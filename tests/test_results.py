"""The results file: where it goes, what it holds, and that it reads back as the original rows."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from conftest import HEADER, csv_text, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lac_batch.files.csv_writer import escape_csv_cell, escaped_row, unescape_csv_cell
from lac_batch.files.reader import read_table
from lac_batch.files.results import (
    check_results_path,
    default_results_path,
    write_result_blocks,
    write_results,
)
from lac_batch.files.table import FileFormat
from lac_batch.model.errors import InputFileError, ResultsPathError, UsageError
from lac_batch.model.status import RESULT_COLUMNS, RowResult, Status


@pytest.mark.parametrize(
    ("name", "file_format", "expected"),
    [
        ("orders.csv", FileFormat.CSV, "orders.results.csv"),
        ("orders.tsv", FileFormat.CSV, "orders.results.tsv"),
        ("orders.txt", FileFormat.CSV, "orders.results.csv"),
        ("orders.xlsm", FileFormat.XLSX, "orders.results.xlsx"),
        ("orders.ods", FileFormat.ODS, "orders.results.xlsx"),
        ("orders.results.csv", FileFormat.CSV, "orders.results.2.csv"),
        ("orders.results.2.xlsx", FileFormat.XLSX, "orders.results.3.xlsx"),
    ],
)
def test_default_results_path(
    tmp_path: Path, name: str, file_format: FileFormat, expected: str
) -> None:
    assert default_results_path(tmp_path / name, file_format) == tmp_path / expected


def test_numbered_name_skips_existing_files(tmp_path: Path) -> None:
    (tmp_path / "orders.results.2.csv").write_text("x")
    assert default_results_path(tmp_path / "orders.results.csv", FileFormat.CSV) == (
        tmp_path / "orders.results.3.csv"
    )


def test_results_never_overwrite_the_input(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type\na,b\n")
    with pytest.raises(UsageError, match="overwrite the input"):
        check_results_path(path, path)
    outcome = run_cli("validate", path, "--results", path)
    assert outcome.exit_code == 2
    assert path.read_text() == "connection_key,request_type\na,b\n"


def test_unwritable_destination_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ResultsPathError, match="does not exist"):
        check_results_path(tmp_path / "missing" / "out.csv", tmp_path / "in.csv")
    outcome = run_cli(
        "validate", tmp_path / "does-not-exist.csv", "--results", tmp_path / "missing" / "out.csv"
    )
    assert outcome.exit_code == 2
    assert "folder" in outcome.stderr


def _table(tmp_path: Path, rows: list[list[str]], name: str = "in.csv"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(csv_text(rows), encoding="utf-8")
    return read_table(path)


def test_failed_final_write_falls_back_to_timestamped_name(tmp_path: Path) -> None:
    table = _table(tmp_path, [HEADER, ["a", "b", "", ""]])
    blocked = tmp_path / "out.csv"
    blocked.mkdir()  # like a file held open by Excel on Windows: the rename onto it fails
    written = write_results(blocked, table, [RowResult(2, Status.VALID)])
    assert written.fallback_reason is not None
    assert written.path.parent == tmp_path
    assert written.path.name.startswith("out.") and written.path.suffix == ".csv"
    assert read_table(written.path).rows == [["a", "b", "", ""]]


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    table = _table(tmp_path, [HEADER, ["a", "b", "", ""]])
    write_results(tmp_path / "out.xlsx", table, [RowResult(2, Status.VALID)])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv", "out.xlsx"]


@pytest.mark.parametrize("text", ["=SUM(A1)", "+1", "-5", "@cmd", "\tx", "\rx", "'quoted", "''"])
def test_csv_injection_prefix_round_trips(text: str) -> None:
    escaped = escape_csv_cell(text)
    assert escaped == "'" + text
    assert unescape_csv_cell(escaped) == text


def test_csv_results_layout_and_bom(tmp_path: Path) -> None:
    table = _table(tmp_path, [HEADER, ["=1+1", "b", "007", "-5"]])
    write_results(tmp_path / "out.csv", table, [RowResult(2, Status.INVALID, error="bad")])
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join([*RESULT_COLUMNS, *HEADER])
    assert lines[1] == "2,invalid,,,bad,,,'=1+1,b,007,'-5"


def test_csv_results_keep_the_input_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key;request_type\na;b\n")
    write_results(tmp_path / "out.csv", read_table(path), [RowResult(2, Status.VALID)])
    assert (tmp_path / "out.csv").read_text(encoding="utf-8-sig").splitlines()[1] == (
        "2;valid;;;;;;a;b"
    )


def test_xlsx_results_are_formatted_and_keep_text_as_text(tmp_path: Path) -> None:
    table = _table(tmp_path, [HEADER, ["=1+1", "b", "007", "note"]])
    write_results(
        tmp_path / "out.xlsx", table, [RowResult(2, Status.ACCEPTED, "evt_1", 202, "", 1)]
    )
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:K2"
    assert all(cell.font.bold for cell in sheet[1])
    values = [cell.value for cell in sheet[2]]
    assert values == [2, "accepted", "evt_1", 202, None, 1, None, "=1+1", "b", "007", "note"]
    assert sheet["H2"].data_type == "s"
    assert sheet.column_dimensions["A"].width > 0


def test_user_status_column_further_right_survives(tmp_path: Path) -> None:
    table = _table(tmp_path, [[*HEADER, "Status"], ["a", "b", "", "", "mine"]])
    write_results(tmp_path / "out.csv", table, [RowResult(2, Status.VALID)])
    again = read_table(tmp_path / "out.csv")
    assert again.was_results_file
    assert again.headers == [*HEADER, "Status"]
    assert again.rows == [["a", "b", "", "", "mine"]]


# --- round trips: input → results → input reads the same rows -----------------------------

cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
row_strategy = st.lists(
    st.tuples(st.text(alphabet="abcxyz=+-@'", min_size=1, max_size=5), cell_text, cell_text),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=row_strategy, delimiter=st.sampled_from([",", ";", "\t"]))
def test_csv_round_trip(tmp_path: Path, rows: list[tuple[str, str, str]], delimiter: str) -> None:
    source = tmp_path / "rt.csv"
    source.write_bytes(
        csv_text([["connection_key", "request_type", "note"], *map(list, rows)], delimiter).encode(
            "utf-8"
        )
    )
    original = read_table(source)
    results = tmp_path / "rt.results.csv"
    write_results(results, original, [RowResult(n, Status.VALID) for n in original.row_numbers])
    again = read_table(results)
    assert again.headers == original.headers
    assert again.rows == original.rows
    assert again.delimiter == delimiter


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=row_strategy)
def test_xlsx_round_trip(tmp_path: Path, rows: list[tuple[str, str, str]]) -> None:
    source = tmp_path / "rt.xlsx"
    workbook = xlsxwriter.Workbook(str(source))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["connection_key", "request_type", "note"])
    for line, row in enumerate(rows, start=1):
        for column, text in enumerate(row):
            sheet.write_string(line, column, text)
    workbook.close()
    original = read_table(source)
    results = tmp_path / "rt.results.xlsx"
    write_results(results, original, [RowResult(n, Status.VALID) for n in original.row_numbers])
    again = read_table(results)
    assert again.headers == original.headers
    assert again.rows == original.rows


def test_validate_round_trip_through_cli(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(csv_text([HEADER, ["=cmd", "-5", "'x", "+1"], ["", "b", "", ""]]))
    assert run_cli("validate", path).exit_code == 1
    first = read_table(path)
    again = read_table(tmp_path / "orders.results.csv")
    assert (again.headers, again.rows) == (first.headers, first.rows)
    assert run_cli("validate", tmp_path / "orders.results.csv").exit_code == 1
    assert (tmp_path / "orders.results.2.csv").exists()


@given(
    cells=st.lists(
        st.lists(st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", "\x00", "a", " "])).map(
            "".join
        ),
        max_size=6,
    )
)
def test_row_check_escapes_exactly_as_each_cell_would(cells: list[str]) -> None:
    assert escaped_row(cells) == [escape_csv_cell(cell) for cell in cells]


# --- a row's input line is copied into the results file when that is safe -----------------

_RAW_PIECES = st.sampled_from(
    ["a", "ä", " ", '"', '""', ",", ";", "\t", "\n", "\r\n", "\r", "=", "'", "-", "@", 'x"y', '"q"']
)


def _parsed(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.reader(stream, delimiter=read_table(path).delimiter or ","))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.tuples(
            st.lists(st.lists(_RAW_PIECES, max_size=3).map("".join), min_size=1, max_size=4),
            st.sampled_from(["\n", "\r\n", "\r"]),
        ),
        max_size=8,
    ),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_copied_lines_read_back_as_the_cells_written_one_by_one(
    tmp_path: Path, lines: list[tuple[list[str], str]], delimiter: str
) -> None:
    """Any input text, however quoted: copied lines read back as the cells written one by one."""
    # Lines of cells made of pieces: mostly well-formed rows, some with stray quotes and breaks.
    text = "".join(delimiter.join(cells) + end for cells, end in lines)
    header = delimiter.join(["connection_key", "request_type", "note"])
    source = tmp_path / "raw.csv"
    source.write_bytes((header + "\n" + text).encode())
    try:
        table = read_table(source)
    except InputFileError:
        return  # only blank lines, or not CSV: nothing to write
    blocks = [
        RowResult(n, Status.INVALID, error='bad, "x"').cells()
        if index % 3 == 2
        else RowResult(n, Status.VALID).cells()
        for index, n in enumerate(table.row_numbers)
    ]
    copied, written = tmp_path / "copied.csv", tmp_path / "written.csv"
    write_result_blocks(copied, table, blocks)
    table.lines = None
    write_result_blocks(written, table, blocks)
    assert _parsed(copied) == _parsed(written)
    again = read_table(copied)
    assert (again.headers, again.rows) == (table.headers, table.rows)


def test_safe_lines_are_copied_and_others_escaped(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(
        b'connection_key;request_type;note\n"k1";setup;"a;b"\r\nk2;setup;=1+1\nk3;setup;last'
    )
    table = read_table(source)
    blocks = [RowResult(n, Status.VALID).cells() for n in table.row_numbers]
    results = tmp_path / "out.csv"
    write_result_blocks(results, table, blocks)
    lines = results.read_bytes().decode("utf-8-sig").split("\r\n")
    assert lines[1] == '2;valid;;;;;;"k1";setup;"a;b"'  # copied as written, quotes and all
    assert lines[2] == "3;valid;;;;;;k2;setup;'=1+1"  # a formula trigger: written cell by cell
    assert lines[3] == "4;valid;;;;;;k3;setup;last"  # the last line is always written anew
