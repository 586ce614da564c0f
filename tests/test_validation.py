"""What a valid row is, what body it becomes, and how every problem is reported."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import csv_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lac_batch.model.columns import Field
from lac_batch.model.errors import HeaderError, InputFileError
from lac_batch.rows import validation
from lac_batch.rows.payload import assemble_metadata, build_body, canonical_json
from lac_batch.rows.schema import converted_columns, frame_of, metadata_entries
from lac_batch.rows.validation import ValidationReport, read_requests, validate


def check(
    tmp_path: Path, rows: Sequence[Sequence[str]], *, allow_duplicates: bool = False
) -> ValidationReport:
    path = tmp_path / "in.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    return validate(read_requests(path), allow_duplicates=allow_duplicates)


def bodies(report: ValidationReport) -> list[dict[str, Any]]:
    return [row.body for row in report.valid_rows]


def test_body_has_only_filled_keys(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            ["connection_key", "request_type", "customer_id", "note"],
            [" bank ", " setup ", "", ""],
            ["bank", "change", "0123456-7", "  keep  me  "],
        ],
    )
    assert bodies(report) == [
        {"connection_key": "bank", "request_type": "setup"},
        {
            "connection_key": "bank",
            "request_type": "change",
            "customer_id": "0123456-7",
            "note": "  keep  me  ",
        },
    ]


def test_header_names_match_loosely(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            [" Connection Key ", "REQUEST-TYPE", "Customer_ID", "Note", "Metadata.Contact Email"],
            ["a", "b", "c", "d", "e@x.fi"],
        ],
    )
    assert bodies(report) == [
        {
            "connection_key": "a",
            "request_type": "b",
            "customer_id": "c",
            "note": "d",
            "metadata": {"Contact Email": "e@x.fi"},
        }
    ]


def test_metadata_columns_nest_and_convert(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            [
                "connection_key",
                "request_type",
                "metadata.contact.email",
                "metadata.amount:float",
                "metadata.count:int",
                "metadata.active:bool",
                "metadata.start:date",
                "metadata.extra:json",
                "metadata.empty",
            ],
            ["a", "b", "x@y.fi", "1 234,50", "7", "kyllä", "31.3.2026", '{"k": [1, 2]}', ""],
        ],
    )
    assert bodies(report) == [
        {
            "connection_key": "a",
            "request_type": "b",
            "metadata": {
                "contact": {"email": "x@y.fi"},
                "amount": 1234.5,
                "count": 7,
                "active": True,
                "start": "2026-03-31",
                "extra": {"k": [1, 2]},
            },
        }
    ]


def test_metadata_json_column_merges_with_key_columns(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            ["connection_key", "request_type", "metadata", "metadata.b.c"],
            ["a", "b", '{"a": 1, "b": {"d": 2}}', "3"],
        ],
    )
    assert bodies(report)[0]["metadata"] == {"a": 1, "b": {"c": "3", "d": 2}}


def test_every_error_of_every_row_is_reported(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            ["connection_key", "request_type", "customer_id", "metadata", "metadata.n:int"],
            ["", "  ", "", "", "12,5"],
            ["a\tb", "x", "id\n2", "[1]", ""],
            ["a", "b", "", "{bad", "1"],
            ["ok", "ok", "", "", ""],
        ],
    )
    assert report.flatten() == [
        (2, "connection_key", "required"),
        (2, "request_type", "required"),
        (2, "metadata.n:int", "bad_value"),
        (3, "connection_key", "control_character"),
        (3, "customer_id", "control_character"),
        (3, "metadata", "not_json_object"),
        (4, "metadata", "bad_value"),
    ]
    assert [str(issue) for issue in report.issues][2] == (
        "metadata.n:int: '12,5' is not a whole number"
    )
    assert report.counts["valid"] == 1


def test_same_key_twice_is_a_row_error_naming_both_columns(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            ["connection_key", "request_type", "metadata.a", "metadata.a:int"],
            ["k", "t", "1", "2"],
            ["k", "t", "1", ""],
        ],
    )
    assert report.flatten() == [(2, None, "metadata_collision")]
    assert "metadata.a and metadata.a:int" in str(report.issues[0])


def test_value_and_parent_both_filled_is_a_row_error(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            ["connection_key", "request_type", "metadata.a", "metadata.a.b"],
            ["k", "t", "1", "2"],
            ["k", "t", "", "2"],
        ],
    )
    assert report.flatten() == [(2, None, "metadata_collision")]
    message = str(report.issues[0])
    assert "metadata.a" in message and "metadata.a.b" in message


def test_json_column_key_also_given_as_column_collides(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [["connection_key", "request_type", "metadata", "metadata.a"], ["k", "t", '{"a": 1}', "2"]],
    )
    assert report.flatten() == [(2, None, "metadata_collision")]
    assert "metadata and metadata.a" in str(report.issues[0])


def test_later_duplicate_is_invalid_and_names_first_row(tmp_path: Path) -> None:
    report = check(
        tmp_path, [["connection_key", "request_type"], ["a", "b"], ["c", "d"], [" a ", "b"]]
    )
    assert report.flatten() == [(4, None, "duplicate")]
    assert str(report.issues[0]).startswith("duplicate of row 2")


def test_allow_duplicates_numbers_each_copy(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [["connection_key", "request_type"], ["a", "b"], ["a", "b"]],
        allow_duplicates=True,
    )
    assert report.valid
    assert [row.occurrence for row in report.rows] == [1, 2]


def test_unknown_columns_warn_once(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type,colour,size\na,b,red,\n")
    sheet = read_requests(path)
    assert sheet.plan.unknown == ("colour", "size")
    assert len(sheet.warnings) == 1
    assert "'colour', 'size'" in sheet.warnings[0]


def test_unknown_type_suffix_is_a_header_error(tmp_path: Path) -> None:
    from lac_batch.model.errors import HeaderError

    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type,metadata.n:integer\na,b,1\n")
    with pytest.raises(HeaderError, match=":integer"):
        read_requests(path)


def test_numbers_from_excel_keep_integer_text_for_customer_id(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "in.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["connection_key", "request_type", "customer_id", "metadata.n:int"])
    workbook.active.append(["a", "b", 12345, 7.0])
    workbook.save(path)
    assert bodies(validate(read_requests(path))) == [
        {"connection_key": "a", "request_type": "b", "customer_id": "12345", "metadata": {"n": 7}}
    ]


# --- bodies are built a column at a time: they must equal the row-at-a-time statement ----------

_CELLS = {
    "str": st.sampled_from(["", " ", " x ", "ä", "=1", "0", '"q"', "a\\b", "\u2028", "€ 5"]),
    "int": st.sampled_from(["", "1", "0", "1 234", "-7", "12,5", "9007199254740991"]),
    "float": st.sampled_from(["", "1,5", "2", "0", "1e20", "x", "-0,25", "1e-7", "0,1"]),
    "bool": st.sampled_from(["", "yes", "EI", "0", "maybe"]),
    "date": st.sampled_from(["", "1.1.2026", "2026-02-03", "31.2.2026"]),
    "json": st.sampled_from(
        ["", "{}", "null", "[]", "[1, 2]", '{"k": 1}', "0", "false", '""', "{bad"]
    ),
}
_KEY_PATHS = st.lists(
    st.lists(st.sampled_from(["a", "b", "B", "ä", "c d"]), min_size=1, max_size=3).map(tuple),
    max_size=5,
    unique=True,
)


@st.composite
def _request_sheets(draw: st.DrawFn) -> list[list[str]]:
    headers = ["connection_key", "request_type"]
    headers += draw(st.sets(st.sampled_from(["customer_id", "note", "metadata"])))
    kinds: list[str] = []
    for key_path in draw(_KEY_PATHS):
        kind = draw(st.sampled_from(sorted(_CELLS)))
        headers.append("metadata." + ".".join(key_path) + ("" if kind == "str" else ":" + kind))
        kinds.append(kind)
    order = draw(st.permutations(range(len(headers))))
    cell_kinds = ["fixed"] * (len(headers) - len(kinds)) + kinds
    fixed = st.sampled_from(["", "k", " k ", "  ", '{"a": 1}', "{}"])
    rows = draw(
        st.lists(
            st.tuples(*(_CELLS[kind] if kind != "fixed" else fixed for kind in cell_kinds)),
            min_size=1,
            max_size=8,
        )
    )
    return [[headers[i] for i in order], *([row[i] for i in order] for row in rows)]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_request_sheets())
def test_bodies_equal_the_row_at_a_time_assembly(tmp_path: Path, rows: list[list[str]]) -> None:
    path = tmp_path / "in.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    try:
        sheet = read_requests(path)
    except (HeaderError, InputFileError):
        return  # the same key path with two types, or only blank rows: no bodies to compare
    report = validate(sheet, allow_duplicates=True)
    frame = frame_of(sheet.plan, converted_columns(sheet.plan, sheet.table.rows))
    index = {spec.field: place for place, spec in enumerate(sheet.plan.columns)}
    for verdict, values in zip(report.rows, frame.itertuples(index=False), strict=True):
        if not verdict.is_valid:
            continue

        def text(field: Field, values: Sequence[Any] = values) -> str:
            return str(values[index[field]]).strip() if field in index else ""

        json_object = values[index[Field.METADATA]] if Field.METADATA in index else None
        has_metadata = Field.METADATA in index or bool(sheet.plan.metadata_values)
        note = values[index[Field.NOTE]] if Field.NOTE in index else ""
        expected = build_body(
            text(Field.CONNECTION_KEY),
            text(Field.REQUEST_TYPE),
            customer_id=text(Field.CUSTOMER_ID),
            note=note if note.strip() else "",
            metadata=assemble_metadata(json_object, metadata_entries(sheet.plan, values))
            if has_metadata
            else None,
        )
        assert verdict.body_json == canonical_json(expected)


def test_bodies_do_not_depend_on_the_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = ["connection_key", "request_type", "metadata.n:int", "metadata.a.b"]
    rows = [header] + [
        ["k" if n % 4 else "", "setup", str(n % 5) if n % 3 else "x", f"v{n % 6}"]
        for n in range(40)
    ]
    whole = [(row.row_number, row.body_json, row.issues) for row in check(tmp_path, rows).rows]
    monkeypatch.setattr(validation, "_BODY_BATCH_ROWS", 3)
    batched = [(row.row_number, row.body_json, row.issues) for row in check(tmp_path, rows).rows]
    assert batched == whole
    assert sum(body is not None for _, body, _ in whole) > 10


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(body=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_canonical_json_is_json_dumps_with_sorted_keys(body: dict[str, Any]) -> None:
    assert canonical_json(body) == json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


# Per column, classes of texts that give the same value (trimmed, number and date spellings,
# yes/1/KYLLÄ); the note is sent as written, so its classes are single texts but for blanks.
_SPELLINGS = {
    "connection_key": [["k", " k ", "k "], ["j"]],
    "request_type": [["s", " s"]],
    "customer_id": [["", " "], ["1", " 1"]],
    "note": [["", " "], ["n"], [" n"]],
    "metadata.a": [["", " "], ["x", " x "]],
    "metadata.n:int": [["", " "], ["1", "1,0", "01"], ["1 000", "1000"]],
    "metadata.f:float": [["", " "], ["1", "1,0", "1.0"], ["0,5", ".5"]],
    "metadata.b:bool": [["", " "], ["yes", "1", "KYLLÄ"], ["no", "0"]],
    "metadata.d:date": [["", " "], ["1.1.2026", "2026-01-01", "01.01.2026"]],
}


@st.composite
def _spelled_sheets(draw: st.DrawFn) -> list[list[str]]:
    """A few distinct requests, each written out several times in different spellings."""
    classes = list(_SPELLINGS.values())
    bases = draw(
        st.lists(
            st.tuples(*(st.integers(0, len(column) - 1) for column in classes)),
            min_size=1,
            max_size=3,
        )
    )
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        base = draw(st.sampled_from(bases))
        rows.append(
            [draw(st.sampled_from(column[k])) for column, k in zip(classes, base, strict=True)]
        )
    return [list(_SPELLINGS), *rows]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.one_of(_request_sheets(), _spelled_sheets()))
def test_duplicates_are_exactly_the_rows_with_an_earlier_equal_body(
    tmp_path: Path, rows: list[list[str]]
) -> None:
    # Duplicates are found by hashing cell values, not bodies: this holds them to the bodies.
    path = tmp_path / "in.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    try:
        sheet = read_requests(path)
    except (HeaderError, InputFileError):
        return
    every_copy = validate(sheet, allow_duplicates=True)
    seen: Counter[str] = Counter()
    expected_duplicates: list[int] = []
    for verdict in every_copy.rows:
        if verdict.body_json is None:
            continue
        assert verdict.occurrence == seen[verdict.body_json] + 1
        if seen[verdict.body_json]:
            expected_duplicates.append(verdict.row_number)
        seen[verdict.body_json] += 1
    report = validate(sheet)
    duplicates = [row for row, _, code in report.flatten() if code == "duplicate"]
    assert duplicates == expected_duplicates
    assert report.valid == (every_copy.valid and not expected_duplicates)
