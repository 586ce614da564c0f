"""The results .xlsx writer: valid package, formatting, and cells that read as XlsxWriter's do."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import openpyxl
import pytest
import xlsxwriter
from defusedxml import ElementTree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from lac_batch.files.xlsx_writer import MAX_CELL_CHARACTERS, Cell, write_sheet

HEADERS = ["row", "status", "note", "other"]


def _write(path: Path, rows: Sequence[Sequence[Cell]], headers: Sequence[str] = HEADERS) -> Path:
    write_sheet(path, headers, lambda: iter(rows), len(rows), [len(h) + 2 for h in headers])
    return path


def _write_reference(path: Path, rows: Sequence[Sequence[Cell]]) -> Path:
    """The same sheet as XlsxWriter's constant_memory mode writes it (the writer used before)."""
    workbook = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_numbers": False}
    )
    sheet = workbook.add_worksheet("results")
    bold = workbook.add_format({"bold": True})
    for position, header in enumerate(HEADERS):
        sheet.write_string(0, position, header, bold)
    for line, cells in enumerate(rows, start=1):
        for position, value in enumerate(cells):
            if isinstance(value, int):
                sheet.write_number(line, position, value)
            elif value:
                sheet.write_string(line, position, value)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(rows), 1), len(HEADERS) - 1)
    workbook.close()
    return path


def _calamine(path: Path) -> list[list[object]]:
    rows: list[list[object]] = (
        CalamineWorkbook.from_path(str(path))
        .get_sheet_by_name("results")
        .to_python(skip_empty_area=False)
    )
    return rows


def _openpyxl(path: Path) -> list[tuple[object, ...]]:
    workbook = openpyxl.load_workbook(path)
    return [tuple(cell.value for cell in row) for row in workbook["results"].iter_rows()]


def test_header_is_bold_frozen_filtered_and_sized(tmp_path: Path) -> None:
    path = _write(tmp_path / "out.xlsx", [[2, "valid", "=1+1", ""], [3, "invalid", "", "x"]])
    sheet = openpyxl.load_workbook(path)["results"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:D3"
    assert all(cell.font.bold for cell in sheet[1])
    assert not any(cell.font.bold for cell in sheet[2])
    assert sheet.column_dimensions["B"].width == pytest.approx(8.7109375)
    assert [cell.value for cell in sheet[2]] == [2, "valid", "=1+1", None]
    assert sheet["C2"].data_type == "s"
    assert sheet["A2"].data_type == "n"


def test_package_parts_and_relationships_are_complete(tmp_path: Path) -> None:
    path = _write(tmp_path / "out.xlsx", [[2, "valid", "a", "b"]])
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for name in names:
            ElementTree.fromstring(archive.read(name))  # every part is well-formed XML
        types = ElementTree.fromstring(archive.read("[Content_Types].xml"))
        overrides = {item.get("PartName").lstrip("/") for item in types if item.get("PartName")}
        assert overrides <= names
        assert names - overrides <= {
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/_rels/workbook.xml.rels",
        }
        for rels, base in (("_rels/.rels", ""), ("xl/_rels/workbook.xml.rels", "xl")):
            for relation in ElementTree.fromstring(archive.read(rels)):
                assert str(PurePosixPath(base) / relation.get("Target")).lstrip("./") in names
        workbook = archive.read("xl/workbook.xml").decode()
        assert "'results'!$A$1:$D$2" in workbook


def test_a_sheet_without_rows_still_opens(tmp_path: Path) -> None:
    path = _write(tmp_path / "out.xlsx", [])
    assert _calamine(path) == [HEADERS]
    assert openpyxl.load_workbook(path)["results"].auto_filter.ref == "A1:D2"


def test_blank_header_cells_are_bold_too(tmp_path: Path) -> None:
    path = _write(tmp_path / "out.xlsx", [[2, "valid", "a", "b"]], ["row", "", "note", "x"])
    sheet = openpyxl.load_workbook(path)["results"]
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet["B1"].value is None


def test_text_longer_than_a_cell_holds_is_cut_as_xlsxwriter_cuts_it(tmp_path: Path) -> None:
    long = "ä" * (MAX_CELL_CHARACTERS + 10)
    emoji = "x" + "\U0001f600" * (MAX_CELL_CHARACTERS // 2)
    rows: list[list[Cell]] = [[2, long, emoji, "short"]]
    ours = _calamine(_write(tmp_path / "ours.xlsx", rows))
    assert ours == _calamine(_write_reference(tmp_path / "ref.xlsx", rows))
    assert ours[1][1] == "ä" * MAX_CELL_CHARACTERS


def test_a_sheet_over_the_zip_size_limit_is_written_with_zip64(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stands in for a sheet of more than 2 GiB: the first attempt fails, the second uses zip64.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 4096)
    rows: list[list[Cell]] = [[line, "valid", "text", "more"] for line in range(2, 300)]
    path = _write(tmp_path / "out.xlsx", rows)
    monkeypatch.undo()
    assert _calamine(path)[1:] == [[float(n), "valid", "text", "more"] for n in range(2, 300)]


awkward_piece = st.one_of(
    st.characters(blacklist_categories=("Cs",)),
    st.sampled_from(["_x0041_", "_x00", "&", "<", ">", "\r", "\n", "\t", " ", "\ufffe", "\ue000"]),
)
awkward_text = st.lists(awkward_piece, max_size=8).map("".join)
cell = st.one_of(awkward_text, st.integers(min_value=0, max_value=10**6))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(cell, min_size=4, max_size=4), max_size=5))
def test_cells_read_back_as_xlsxwriter_cells_do(tmp_path: Path, rows: list[list[Cell]]) -> None:
    ours = _write(tmp_path / "ours.xlsx", rows)
    reference = _write_reference(tmp_path / "ref.xlsx", rows)
    assert _calamine(ours) == _calamine(reference)
    assert _openpyxl(ours) == _openpyxl(reference)
