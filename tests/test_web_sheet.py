"""The page's editable sheet: an edit revalidates its row (and duplicates) as validate would."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HEADER, SAMPLES, WriteCsv

from lac_batch.ledger.lock import RunLock
from lac_batch.rows.validation import read_requests, validate
from lac_batch.web.sheet import EditableSheet, RowFilter


def _issues_as_validate_sees_them(sheet: EditableSheet, tmp_path: Path) -> list[list[str]]:
    """Each row's issues after saving the edited copy and validating it from scratch."""
    copy = sheet.save_copy(tmp_path / "copy.xlsx")
    report = validate(read_requests(copy))
    return [[str(issue) for issue in row.issues] for row in report.rows]


def _issues(sheet: EditableSheet) -> list[list[str]]:
    return [[str(issue) for issue in sheet.issues_of(p)] for p in range(sheet.row_count)]


def test_editing_cells_revalidates_rows_and_duplicates_as_validate_would(
    tmp_path: Path,
) -> None:
    path = SAMPLES / "requests-with-errors.csv"
    sheet = EditableSheet(read_requests(path), path)
    assert (sheet.valid_count, sheet.invalid_count) == (1, 5)
    assert "duplicate of row 2" in str(sheet.issues_of(4)[0])
    sheet.set_cell(0, 3, "a note of its own")  # row 2 changes: row 6 is no longer its copy
    assert sheet.issues_of(4) == () and sheet.issues_of(0) == ()
    sheet.set_cell(4, 3, "a note of its own")  # row 6 becomes row 2's copy again
    assert "duplicate of row 2" in str(sheet.issues_of(4)[0])
    sheet.set_cell(1, 0, "bank:op")  # row 3's missing key
    assert sheet.issues_of(1) == ()
    assert _issues(sheet) == _issues_as_validate_sees_them(sheet, tmp_path)


def test_replace_in_a_column_changes_every_matching_cell(write_csv: WriteCsv) -> None:
    header = [*HEADER, "metadata.count:int"]
    path = write_csv(
        [header, ["stripe", "setup", "", "x", "12x"], ["stripe", "setup", "", "y", "13x"]]
    )
    sheet = EditableSheet(read_requests(path), path)
    assert sheet.invalid_count == 2
    assert sheet.replace_in_column(4, "x", "") == 2
    assert sheet.invalid_count == 0
    assert [row.row_number for row in sheet.page(RowFilter.VALID, 1).rows] == [2, 3]


def test_a_cell_typed_as_a_formula_is_saved_as_text(write_csv: WriteCsv, tmp_path: Path) -> None:
    path = write_csv([HEADER, ["stripe", "setup", "", "x"]])
    sheet = EditableSheet(read_requests(path), path)
    sheet.set_cell(0, 3, "=1+1")
    copy = read_requests(sheet.save_copy(tmp_path / "copy.xlsx"))
    assert copy.table.rows[0][3] == "=1+1"


def test_a_page_run_waits_for_no_lock_it_cannot_take(tmp_path: Path, private_ledger: Path) -> None:
    import asyncio

    from lac_batch.jobs.submit import SubmitOptions
    from lac_batch.sending.credentials import ApiKey
    from lac_batch.web.runs import PageRun, run_submit

    options = SubmitOptions(base_url="http://127.0.0.1:9/portal", api_key=ApiKey("k"))
    run = PageRun(1, SAMPLES / "requests.csv", "nowhere")
    with RunLock(private_ledger):
        asyncio.run(run_submit(run, options, private_ledger, tmp_path / "r.results.csv"))
    assert "another" in run.problem.lower() or "lock" in run.problem.lower(), run.problem
    assert run.outcome is None


@pytest.mark.parametrize("filter_", list(RowFilter))
def test_paging_never_shows_more_than_a_page(filter_: RowFilter, write_csv: WriteCsv) -> None:
    rows = [["stripe", "setup" if n % 3 else "", "", f"n{n}"] for n in range(120)]
    path = write_csv([HEADER, *rows])
    sheet = EditableSheet(read_requests(path), path)
    page = sheet.page(filter_, 2)
    assert len(page.rows) <= 50 and page.page == min(2, page.pages)
    if filter_ is RowFilter.ALL:
        first = sheet.page(filter_, 1).rows
        assert not first[0].is_valid and first[-1].is_valid  # invalid first
