"""Workbook reading: sheet choice, cell types as text, formulas, empty rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from lac_batch.files.reader import read_table
from lac_batch.model.errors import InputFileError


def test_cell_types_become_exact_text(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    date_only = workbook.add_format({"num_format": "d.m.yyyy"})
    with_time = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_row(0, 0, ["connection_key", "request_type", "a", "b", "c", "d", "e", "f"])
    sheet.write_string(1, 0, "007")
    sheet.write_string(1, 1, "=not a formula")
    sheet.write_number(1, 2, 12345)
    sheet.write_number(1, 3, 12.5)
    sheet.write_datetime(1, 4, dt.datetime(2026, 1, 5), date_only)
    sheet.write_datetime(1, 5, dt.datetime(2026, 1, 5, 10, 30), with_time)
    sheet.write_boolean(1, 6, True)
    sheet.write_formula(1, 7, "=1+1", None, 2)
    workbook.close()
    table = read_table(path)
    assert table.rows == [
        ["007", "=not a formula", "12345", "12.5", "2026-01-05", "2026-01-05T10:30:00", "true", "2"]
    ]
    assert table.problems == []


def test_formula_without_cached_value_is_a_row_problem(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["connection_key", "request_type"])
    sheet.append(["a", '=CONCAT("x","y")'])
    workbook.save(path)
    table = read_table(path)
    assert [(problem.row_number, problem.position, problem.code) for problem in table.problems] == [
        (2, 1, "formula_without_value")
    ]


def test_empty_rows_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A1"], sheet["B1"] = "connection_key", "request_type"
    sheet["A2"], sheet["B2"] = "a", "b"
    sheet["A5"], sheet["B5"] = "c", "d"
    workbook.save(path)
    table = read_table(path)
    assert table.row_numbers == [2, 5]


def _workbook(path: Path, sheets: dict[str, list[list[str]]]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


REQUESTS = [["connection_key", "request_type"], ["a", "b"]]


def test_only_sheet_with_required_columns_is_chosen(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "in.xlsx", {"Ohjeet": [["Read me"]], "Pyynnöt": REQUESTS})
    assert read_table(path).sheet == "Pyynnöt"


def test_sheet_option_selects(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "in.xlsx", {"A": REQUESTS, "B": [*REQUESTS, ["c", "d"]]})
    assert read_table(path, sheet="B").rows == [["a", "b"], ["c", "d"]]


def test_ambiguous_sheets_list_names(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "in.xlsx", {"A": REQUESTS, "B": REQUESTS})
    with pytest.raises(InputFileError, match="'A', 'B'"):
        read_table(path)


def test_unknown_sheet_lists_names(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "in.xlsx", {"A": REQUESTS})
    with pytest.raises(InputFileError, match=r"has no sheet 'Z'\. Its sheets are: 'A'"):
        read_table(path, sheet="Z")


def test_xlsm_reads_like_xlsx(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "in.xlsm", {"A": REQUESTS})
    assert read_table(path).rows == [["a", "b"]]


def test_value_in_column_without_header_is_kept_for_planning(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "in.xlsx", {"A": [["connection_key", "request_type"], ["a", "b", "stray"]]}
    )
    table = read_table(path)
    assert table.headers == ["connection_key", "request_type", ""]
    assert table.rows == [["a", "b", "stray"]]


def test_ods_is_read(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "in.ods"
    frame = pd.DataFrame({"connection_key": ["a"], "request_type": ["b"], "customer_id": ["007"]})
    frame.to_excel(path, index=False, engine="odf")  # odfpy is a dev extra
    assert read_table(path).rows == [["a", "b", "007"]]


class _Panic(BaseException):
    """Stands in for ``pyo3_runtime.PanicException``: a BaseException told by its name."""


_Panic.__name__ = "PanicException"


class _SheetThatFails:
    def __init__(self, error: BaseException) -> None:
        self._error = error

    def to_python(self, **_: object) -> object:
        raise self._error


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            _Panic("index out of bounds"),
            "cannot be read: the workbook reader failed inside (index out of bounds). The file "
            "is probably damaged or written by an unusual program; open it in Excel or "
            "LibreOffice and save it again as .xlsx.",
        ),
        (
            ValueError("bad shared string"),
            "sheet 'Sheet' cannot be read (bad shared string); save the file again.",
        ),
    ],
)
def test_a_calamine_failure_reading_a_sheet_is_the_files_error_with_its_cause_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, message: str
) -> None:
    from python_calamine import CalamineWorkbook

    path = tmp_path / "in.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["connection_key", "request_type"])  # type: ignore[union-attr]
    workbook.active.append(["a", "setup"])  # type: ignore[union-attr]
    workbook.save(path)
    monkeypatch.setattr(
        CalamineWorkbook, "get_sheet_by_name", lambda self, name: _SheetThatFails(error)
    )
    with pytest.raises(InputFileError) as caught:
        read_table(path)
    assert caught.value.problem == message
    # Translated once, at calamine's boundary, like every lower-level error: the cause is kept.
    assert caught.value.__cause__ is error


def test_a_calamine_failure_opening_a_workbook_keeps_its_cause(tmp_path: Path) -> None:
    path = tmp_path / "broken.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    with pytest.raises(InputFileError) as caught:
        read_table(path)
    assert caught.value.problem.startswith("cannot be read as a xls workbook (")
    assert caught.value.problem.endswith("Open it in Excel and save it again as .xlsx.")
    assert caught.value.__cause__ is not None
