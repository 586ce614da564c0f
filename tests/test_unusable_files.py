"""Every unusable file ends in one paragraph naming the file, exit code 2, no traceback."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import SAMPLES, run_cli
from msoffcrypto.format.ooxml import OOXMLFile


def _results_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.results*"))


def _expect_unusable(path: Path, *fragments: str) -> None:
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 2, outcome.output
    assert outcome.stdout == ""
    message = outcome.stderr.strip()
    assert message.startswith(f"Error: {path}")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert _results_files(path.parent) == []


def test_missing_file(tmp_path: Path) -> None:
    _expect_unusable(tmp_path / "nope.csv", "does not exist")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    _expect_unusable(folder, "is a folder")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    _expect_unusable(path, "is empty")


def test_whitespace_only_file(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\r\n\r\n  \r\n")
    _expect_unusable(path, "is empty")


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("connection_key,request_type\n")
    _expect_unusable(path, "no data rows")


def test_missing_required_column_lists_headers(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("connection,request_type\na,b\n")
    _expect_unusable(
        path, "no connection_key column", "Headers found: 'connection', 'request_type'"
    )


def test_duplicate_header_after_matching(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("connection_key,request_type,Connection Key\na,b,c\n")
    _expect_unusable(path, "'connection_key' (column A) and 'Connection Key' (column C)")


def test_renamed_pdf(tmp_path: Path) -> None:
    path = tmp_path / "requests.xlsx"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    _expect_unusable(path, "is a PDF document, not a spreadsheet")


def test_text_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "requests.xlsx"
    path.write_text("connection_key,request_type\na,b\n")
    _expect_unusable(path, "not an Excel workbook")


def test_workbook_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_bytes((SAMPLES / "requests.xlsx").read_bytes())
    _expect_unusable(path, "workbook saved under a text-file name")


def test_password_protected_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "locked.xlsx"
    with (SAMPLES / "requests.xlsx").open("rb") as source, path.open("wb") as target:
        OOXMLFile(source).encrypt("salasana", target)
    _expect_unusable(path, "password-protected")


def test_damaged_zip(tmp_path: Path) -> None:
    path = tmp_path / "damaged.xlsx"
    path.write_bytes((SAMPLES / "requests.xlsx").read_bytes()[:2000])
    _expect_unusable(path, "damaged")


def test_decompression_bomb_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024**2))
    _expect_unusable(path, "decompression bombs")


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "requests.pdf"
    path.write_bytes(b"%PDF")
    _expect_unusable(path, "extension lac-batch does not read", ".xlsx")


def test_undecodable_with_forced_encoding(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes("connection_key,request_type\nä,b\n".encode("cp1252"))
    outcome = run_cli("validate", path, "--encoding", "utf-8")
    assert outcome.exit_code == 2
    assert "cannot be read as utf-8" in outcome.stderr


def test_unknown_encoding_name(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type\na,b\n")
    outcome = run_cli("validate", path, "--encoding", "klingon")
    assert outcome.exit_code == 2
    assert "'klingon' is not an encoding" in outcome.stderr


@pytest.mark.parametrize("option", [["--strict"]])
def test_unknown_column_is_an_error_with_strict(tmp_path: Path, option: list[str]) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type,colour\na,b,red\n")
    outcome = run_cli("validate", path, *option)
    assert outcome.exit_code == 2
    assert "unknown columns 'colour'" in outcome.stderr
