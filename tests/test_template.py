"""`lac-batch template`: a blank workbook or CSV that `validate` and `submit` accept once filled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, sandbox_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from lac_batch.files.reader import read_table
from lac_batch.files.template import (
    BOOL_CHOICES,
    DEFAULT_TEMPLATE_NAME,
    EXAMPLE_SHEET,
    REQUESTS_SHEET,
    template_columns,
    write_template,
)
from lac_batch.model.cells import (
    MetadataType,
    contains_control_characters,
    convert_cell,
    parse_bool,
)
from lac_batch.rows.validation import read_requests
from lac_batch.sandbox import Sandbox

REQUEST_HEADERS = ["connection_key", "request_type", "customer_id", "note"]
TYPED = [
    "customer_number",
    "monthly_transactions:int",
    "estimated_fee_eur:float",
    "vat_registered:bool",
    "start_date:date",
    "contact.email",
    "extra:json",
]
TYPED_HEADERS = [*REQUEST_HEADERS, *(f"metadata.{value}" for value in TYPED)]


def headers_of(sheet: Worksheet, row: int = 1) -> list[str]:
    return [cell.value for cell in sheet[row] if cell.value is not None]


def typed_template(tmp_path: Path, name: str = "requests.xlsx") -> Path:
    outcome = run_cli("template", tmp_path / name, *(f"--metadata={value}" for value in TYPED))
    assert outcome.exit_code == 0, outcome.output
    return tmp_path / name


def requests_sheet(path: Path) -> Worksheet:
    return load_workbook(path)[REQUESTS_SHEET]


def fill(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    """Append one row per mapping (header → value) to the requests sheet, as a script would."""
    workbook = load_workbook(path)
    sheet = workbook[REQUESTS_SHEET]
    headers = headers_of(sheet)
    for row in rows:
        sheet.append([row.get(header) for header in headers])
    workbook.save(path)


def column_of(sheet: Worksheet, header: str) -> str:
    letter: str = next(cell.column_letter for cell in sheet[1] if cell.value == header)
    return letter


def validations_by_column(sheet: Worksheet) -> dict[str, Any]:
    """Column letter → the data validation of its cells (each covers rows 2 to the last)."""
    found: dict[str, Any] = {}
    for validation in sheet.data_validations.dataValidation:
        for cell_range in validation.sqref.ranges:
            assert cell_range.min_row == 2 and cell_range.max_row == 1_048_576
            found[cell_range.coord.split(":")[0].rstrip("0123456789")] = validation
    return found


# --- what the command writes ---------------------------------------------------------------


def test_default_path_is_requests_template_xlsx_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    outcome = run_cli("template")
    assert outcome.exit_code == 0, outcome.output
    assert f"Template: {DEFAULT_TEMPLATE_NAME}" in outcome.stdout
    sheet = requests_sheet(tmp_path / DEFAULT_TEMPLATE_NAME)
    assert headers_of(sheet) == REQUEST_HEADERS


def test_each_metadata_option_adds_one_column_in_order(tmp_path: Path) -> None:
    path = typed_template(tmp_path)
    assert headers_of(requests_sheet(path)) == TYPED_HEADERS


def test_a_metadata_prefix_in_the_option_is_not_doubled(tmp_path: Path) -> None:
    outcome = run_cli("template", tmp_path / "t.xlsx", "--metadata", "metadata.amount:int")
    assert outcome.exit_code == 0, outcome.output
    assert headers_of(requests_sheet(tmp_path / "t.xlsx"))[-1] == "metadata.amount:int"


def test_header_row_is_bold_and_frozen(tmp_path: Path) -> None:
    sheet = requests_sheet(typed_template(tmp_path))
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.bold for cell in sheet[1])


def test_every_header_has_a_note_saying_what_it_expects(tmp_path: Path) -> None:
    sheet = requests_sheet(typed_template(tmp_path))
    notes = {cell.value: cell.comment.text for cell in sheet[1]}
    assert set(notes) == set(TYPED_HEADERS)
    assert notes["connection_key"].startswith("Required.")
    assert notes["request_type"].startswith("Required.")
    assert notes["customer_id"].startswith("Optional.")
    assert "true/false, yes/no, 1/0 or kyllä/ei" in notes["metadata.vat_registered:bool"]
    assert "31.3.2026" in notes["metadata.start_date:date"]
    assert "1 234,50" in notes["metadata.estimated_fee_eur:float"]
    assert "Sent as metadata.contact.email" in notes["metadata.contact.email"]


def test_id_and_text_columns_are_text_formatted_down_the_whole_column(tmp_path: Path) -> None:
    sheet = requests_sheet(typed_template(tmp_path))
    text_columns = [*REQUEST_HEADERS, "metadata.customer_number", "metadata.contact.email"]
    text_columns.append("metadata.extra:json")
    formats = {
        header: sheet.column_dimensions[column_of(sheet, header)].number_format
        for header in TYPED_HEADERS
    }
    assert {header for header, number_format in formats.items() if number_format == "@"} == set(
        text_columns
    )
    assert formats["metadata.start_date:date"] == "yyyy-mm-dd"
    assert formats["metadata.monthly_transactions:int"] == "General"


def test_bool_column_offers_every_word_lac_batch_reads(tmp_path: Path) -> None:
    sheet = requests_sheet(typed_template(tmp_path))
    validation = validations_by_column(sheet)[column_of(sheet, "metadata.vat_registered:bool")]
    assert validation.type == "list"
    assert validation.formula1 == '"true,false,yes,no,kyllä,ei,1,0"'
    assert validation.showErrorMessage


def test_date_column_has_a_date_validation_with_an_input_message(tmp_path: Path) -> None:
    sheet = requests_sheet(typed_template(tmp_path))
    validation = validations_by_column(sheet)[column_of(sheet, "metadata.start_date:date")]
    assert validation.type == "date"
    assert validation.showInputMessage and "31.3.2026" in validation.prompt


def test_number_columns_get_an_input_message_but_no_rule_that_refuses_finnish_forms(
    tmp_path: Path,
) -> None:
    sheet = requests_sheet(typed_template(tmp_path))
    validations = validations_by_column(sheet)
    for header in ("metadata.monthly_transactions:int", "metadata.estimated_fee_eur:float"):
        validation = validations[column_of(sheet, header)]
        assert validation.type is None
        assert "1 234" in validation.prompt


def test_text_columns_have_no_data_validation(tmp_path: Path) -> None:
    sheet = requests_sheet(typed_template(tmp_path))
    validated = set(validations_by_column(sheet))
    for header in [*REQUEST_HEADERS, "metadata.customer_number", "metadata.extra:json"]:
        assert column_of(sheet, header) not in validated


def test_bool_choices_are_all_read_by_lac_batch_in_true_false_pairs() -> None:
    assert [parse_bool(word) for word in BOOL_CHOICES] == [True, False] * 4


def test_example_sheet_has_a_title_in_row_1_and_the_example_table_below(tmp_path: Path) -> None:
    workbook = load_workbook(typed_template(tmp_path))
    assert workbook.sheetnames == [REQUESTS_SHEET, EXAMPLE_SHEET]
    example = workbook[EXAMPLE_SHEET]
    assert headers_of(example, 1) == [example["A1"].value]
    assert "ignored" in example["A1"].value
    assert headers_of(example, 3) == TYPED_HEADERS
    assert example["A4"].value == "bank:op"


@pytest.mark.parametrize("value_type", list(MetadataType))
def test_example_values_convert_in_their_columns(value_type: MetadataType) -> None:
    (column,) = template_columns([f"key:{value_type.value}"])[4:]
    convert_cell(column.example, value_type)


# --- reading the template back -------------------------------------------------------------


def test_unfilled_template_has_no_data_rows(tmp_path: Path) -> None:
    outcome = run_cli("validate", typed_template(tmp_path))
    assert outcome.exit_code == 2
    assert "no data rows" in outcome.stderr


def test_filled_template_is_read_from_the_requests_sheet_without_sheet_option(
    tmp_path: Path,
) -> None:
    path = typed_template(tmp_path)
    fill(path, [{"connection_key": "bank:op", "request_type": "setup"}])
    table = read_table(path)
    assert table.sheet == REQUESTS_SHEET
    assert table.headers == TYPED_HEADERS
    assert table.row_numbers == [2]


def test_template_written_filled_validated_and_submitted(tmp_path: Path, sandbox: Sandbox) -> None:
    path = typed_template(tmp_path)
    fill(
        path,
        [
            {
                "connection_key": "bank:op",
                "request_type": "setup",
                "note": "OP:n yritystili käyttöön.",
                "metadata.customer_number": "007",
                "metadata.monthly_transactions:int": "1 234",
                "metadata.estimated_fee_eur:float": "24,15",
                "metadata.vat_registered:bool": "kyllä",
                "metadata.start_date:date": dt.date(2027, 1, 8),
                "metadata.contact.email": "kirjanpito@example.fi",
                "metadata.extra:json": '{"source": "crm"}',
            },
            {
                "connection_key": "bank:nordea",
                "request_type": "setup",
                "metadata.customer_number": "0420",
                "metadata.monthly_transactions:int": 155,
                "metadata.estimated_fee_eur:float": 12.5,
                "metadata.vat_registered:bool": False,
                "metadata.start_date:date": "31.3.2026",
            },
        ],
    )
    validated = run_cli("validate", path)
    assert validated.exit_code == 0, validated.output
    assert "2 rows: valid 2" in validated.stdout

    submitted = run_cli("submit", path, "--rate", "300", env=sandbox_env(sandbox))
    assert submitted.exit_code == 0, submitted.output
    bodies = sorted(
        (event.body for event in sandbox.events()), key=lambda body: body["connection_key"]
    )
    assert bodies == [
        {
            "connection_key": "bank:nordea",
            "request_type": "setup",
            "metadata": {
                "customer_number": "0420",
                "monthly_transactions": 155,
                "estimated_fee_eur": 12.5,
                "vat_registered": False,
                "start_date": "2026-03-31",
            },
        },
        {
            "connection_key": "bank:op",
            "request_type": "setup",
            "note": "OP:n yritystili käyttöön.",
            "metadata": {
                "customer_number": "007",
                "monthly_transactions": 1234,
                "estimated_fee_eur": 24.15,
                "vat_registered": True,
                "start_date": "2027-01-08",
                "contact": {"email": "kirjanpito@example.fi"},
                "extra": {"source": "crm"},
            },
        },
    ]


# A key the template accepts reads back as the same column, whatever its characters.
_KEY_TEXT = st.text(min_size=1, max_size=12).filter(
    lambda key: key.strip() and not contains_control_characters(key) and not {".", ":"} & set(key)
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=_KEY_TEXT, value_type=st.sampled_from(list(MetadataType)))
def test_any_accepted_key_reads_back_as_the_same_column(
    tmp_path: Path, key: str, value_type: MetadataType
) -> None:
    path = write_template(tmp_path / "t.xlsx", [f"{key}:{value_type.value}"], force=True)
    fill(path, [{"connection_key": "c", "request_type": "r"}])
    (written,) = template_columns([f"{key}:{value_type.value}"])[4:]
    (read,) = read_requests(path).plan.metadata_values
    assert (read.header, read.key_path, read.value_type) == (
        written.spec.header,
        written.spec.key_path,
        written.spec.value_type,
    )


# --- CSV ------------------------------------------------------------------------------------


def test_csv_template_is_the_header_row_only_with_bom_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    outcome = run_cli("template", path, "--metadata", "amount:int", "--metadata", "name")
    assert outcome.exit_code == 0, outcome.output
    assert (
        path.read_bytes()
        == (
            "\ufeffconnection_key;request_type;customer_id;note;metadata.amount:int;metadata.name\r\n"
        ).encode()
    )


def test_csv_template_filled_in_validates(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    assert run_cli("template", path, "--metadata", "amount:int").exit_code == 0
    assert run_cli("validate", path).exit_code == 2
    with path.open("a", encoding="utf-8", newline="") as stream:
        stream.write("bank:op;setup;007;;1 234\r\n")
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 0, outcome.output
    assert read_requests(path).table.rows == [["bank:op", "setup", "007", "", "1 234"]]


# --- refusals -------------------------------------------------------------------------------


def test_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    path = tmp_path / "requests.xlsx"
    path.write_bytes(b"my work")
    outcome = run_cli("template", path)
    assert outcome.exit_code == 2
    assert "already exists" in outcome.stderr and "--force" in outcome.stderr
    assert path.read_bytes() == b"my work"


def test_force_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "requests.xlsx"
    path.write_bytes(b"old")
    outcome = run_cli("template", path, "--force")
    assert outcome.exit_code == 0, outcome.output
    assert headers_of(requests_sheet(path)) == REQUEST_HEADERS
    assert [entry.name for entry in tmp_path.iterdir()] == ["requests.xlsx"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("amount:money", "unknown type ':money'"),
        ("", "empty key"),
        ("contact..email", "empty key"),
        ("a\x07b", "control character"),
        ("a\ufffeb", "non-character"),
        ("a\udcffb", "non-character"),
    ],
)
def test_invalid_metadata_is_a_usage_error(tmp_path: Path, value: str, expected: str) -> None:
    outcome = run_cli("template", tmp_path / "t.xlsx", "--metadata", value)
    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("Error: --metadata")
    assert expected in outcome.stderr
    assert not (tmp_path / "t.xlsx").exists()


def test_the_same_metadata_column_twice_is_a_usage_error(tmp_path: Path) -> None:
    outcome = run_cli("template", tmp_path / "t.xlsx", "--metadata", "a", "--metadata", "a:str")
    assert outcome.exit_code == 2
    assert "name the same column" in outcome.stderr


def test_other_endings_are_a_usage_error(tmp_path: Path) -> None:
    outcome = run_cli("template", tmp_path / "t.ods")
    assert outcome.exit_code == 2
    assert ".xlsx or .csv" in outcome.stderr
