"""CSV reading: encodings, delimiters, exact cell text and Excel row numbers."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest
from conftest import HEADER, csv_text
from hypothesis import given
from hypothesis import strategies as st

from lac_batch.files.csv_reader import _lines
from lac_batch.files.reader import read_table

ROWS = [HEADER, ["bank", "setup", "0123456-7", "Kahvila Äijä"], ["stripe", "change", "007", "1,5"]]


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("cp1252", b""),
    ],
)
def test_encodings_are_detected(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(prefix + csv_text(ROWS, ";").encode(encoding))
    table = read_table(path)
    assert table.headers == HEADER
    assert table.rows == ROWS[1:]


def test_finnish_excel_cp1252_semicolon_keeps_ids(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "connection_key;request_type;customer_id\r\nöljy;setup;0123456-7\r\n".encode("cp1252")
    )
    table = read_table(path)
    assert (table.encoding, table.delimiter) == ("cp1252", ";")
    assert table.rows == [["öljy", "setup", "0123456-7"]]


def test_forced_encoding_wins(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("connection_key,request_type\nä,b\n".encode("latin-1"))
    assert read_table(path, encoding="latin-1").rows == [["ä", "b"]]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(write_csv, delimiter: str) -> None:  # type: ignore[no-untyped-def]
    table = read_table(write_csv(ROWS, delimiter=delimiter))
    assert table.delimiter == delimiter
    assert table.rows == ROWS[1:]


def test_forced_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key|request_type\na|b\n")
    assert read_table(path, delimiter="|").rows == [["a", "b"]]


def test_quoted_newlines_and_crlf_keep_one_excel_row(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b'connection_key,request_type,note\r\na,b,"line one\r\nline two"\r\nc,d,e\r\n')
    table = read_table(path)
    assert table.rows == [["a", "b", "line one\r\nline two"], ["c", "d", "e"]]
    assert table.row_numbers == [2, 3]


def test_cells_are_exact_text(write_csv) -> None:  # type: ignore[no-untyped-def]
    table = read_table(write_csv([HEADER, ["007", " padded ", "0123456-7", "1,5"]]))
    assert table.rows == [["007", " padded ", "0123456-7", "1,5"]]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type\na,b\n\n,\nc,d\n")
    table = read_table(path)
    assert table.rows == [["a", "b"], ["c", "d"]]
    assert table.row_numbers == [2, 5]


def test_short_rows_are_padded_and_long_rows_flagged(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type,note\na,b\nc,d,e,extra\n")
    table = read_table(path)
    assert table.rows == [["a", "b", ""], ["c", "d", "e"]]
    assert [(problem.row_number, problem.code) for problem in table.problems] == [
        (3, "extra_cells")
    ]


@pytest.mark.parametrize(
    ("encoding", "prefix", "forced"),
    [
        ("utf-8", b"", None),
        ("utf-8", codecs.BOM_UTF8, None),
        ("utf-16-le", codecs.BOM_UTF16_LE, None),
        ("cp1252", b"", None),
        ("utf-8", codecs.BOM_UTF8, "utf-8"),
        ("utf-8", b"", "utf-8-sig"),
    ],
)
def test_large_files_read_as_one_text_would(
    tmp_path: Path, encoding: str, prefix: bytes, forced: str | None
) -> None:
    # Lines are decoded as they are parsed, in chunks: line ends, quoted line breaks and
    # multi-byte characters fall on every chunk boundary somewhere in these 3000 rows.
    endings = ["\r\n", "\n", "\r"]
    text = "connection_key;request_type;note" + "".join(
        f'{endings[n % 3]}k{"ä" * (n % 7)};setup;"x{n % 11 * " "}\r\ny€"' for n in range(3000)
    )
    path = tmp_path / "in.csv"
    path.write_bytes(prefix + text.encode(encoding))
    table = read_table(path, encoding=forced)
    expected = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert [table.headers, *table.rows] == expected
    assert table.row_numbers == list(range(2, 3002))


@given(
    st.text(
        alphabet=st.sampled_from(
            ["a", ",", '"', "\r", "\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]
        )
    )
)
def test_lines_split_as_newline_empty_splits(text: str) -> None:
    # str.splitlines also splits at \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029: cell text in CSV.
    assert _lines(text) == list(io.StringIO(text, newline=""))


def test_vertical_tab_and_line_separator_stay_inside_their_cell(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type,note\nk,setup,a\x0bb\u2028c\nk2,setup,d\n")
    table = read_table(path)
    assert table.rows == [["k", "setup", "a\x0bb\u2028c"], ["k2", "setup", "d"]]
    assert table.row_numbers == [2, 3]
