"""Messages that are right: a date that does not exist says so, and an Office file that is not a
workbook is named as what it is."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import WriteCsv, run_cli


def _validate_one_date(write_csv: WriteCsv, text: str) -> str:
    path = write_csv(
        [["connection_key", "request_type", "metadata.start:date"], ["K1", "setup", text]]
    )
    outcome = run_cli("validate", path, "--errors", "all")
    assert outcome.exit_code == 1, outcome.output
    return outcome.stdout


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("31.2.2027", "31 February 2027 does not exist (February 2027 has 28 days)"),
        ("2028-02-30", "30 February 2028 does not exist (February 2028 has 29 days)"),
        ("31.4.2027", "31 April 2027 does not exist (April 2027 has 30 days)"),
        ("1.13.2027", "there is no month 13"),
    ],
)
def test_a_date_in_the_right_form_that_does_not_exist_says_so(
    write_csv: WriteCsv, text: str, said: str
) -> None:
    shown = _validate_one_date(write_csv, text)
    assert f"'{text}' is not a date: {said}" in shown
    assert "write YYYY-MM-DD" not in shown


def test_a_date_in_another_form_still_shows_the_forms(write_csv: WriteCsv) -> None:
    shown = _validate_one_date(write_csv, "Feb 3rd")
    assert "'Feb 3rd' is not a date; write YYYY-MM-DD or d.m.yyyy" in shown


def _office_file(path: Path, main_part: str, content_type: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Override PartName="/{main_part}" ContentType="{content_type}"/></Types>',
        )
        archive.writestr(main_part, "<document/>")
    return path


@pytest.mark.parametrize(
    ("main_part", "content_type", "named"),
    [
        (
            "word/document.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            "is a Word document, not a spreadsheet",
        ),
        (
            "ppt/presentation.xml",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
            "is a PowerPoint presentation, not a spreadsheet",
        ),
    ],
)
def test_an_office_file_renamed_xlsx_is_named_as_what_it_is(
    tmp_path: Path, main_part: str, content_type: str, named: str
) -> None:
    path = _office_file(tmp_path / "requests.xlsx", main_part, content_type)
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 2, outcome.output
    message = outcome.stderr.strip()
    assert message.startswith(f"Error: {path}: {named}; export the data as .xlsx or .csv.")
    assert "\n" not in message


def test_an_opendocument_text_renamed_ods_is_named_as_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "requests.ods"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>")
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 2, outcome.output
    assert "is an OpenDocument text document, not a spreadsheet" in outcome.stderr
