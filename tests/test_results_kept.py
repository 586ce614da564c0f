"""No command overwrites a results file that records sent rows: the new results get a new name."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from conftest import HEADER, csv_text, read_results_csv, run_cli, sandbox_env

from lac_batch.sandbox import Sandbox

ROWS = [["bank:nordea", "setup", "", "first"], ["bank:op", "setup", "", "second"]]


def submitted(tmp_path: Path, sandbox: Sandbox, name: str = "orders.csv") -> Path:
    source = tmp_path / name
    if name.endswith(".xlsx"):
        workbook = openpyxl.Workbook()
        for row in [HEADER, *ROWS]:
            workbook.active.append(row)
        workbook.save(source)
    else:
        source.write_text(csv_text([HEADER, *ROWS]), encoding="utf-8")
    outcome = run_cli("submit", source, "--rate", "300", env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    return source


def test_validate_after_submit_keeps_the_submit_results(tmp_path: Path, sandbox: Sandbox) -> None:
    source = submitted(tmp_path, sandbox)
    sent = (tmp_path / "orders.results.csv").read_bytes()

    outcome = run_cli("validate", source)

    assert outcome.exit_code == 0
    assert (tmp_path / "orders.results.csv").read_bytes() == sent
    assert "orders.results.csv records rows sent to the API, so it is kept" in outcome.stdout
    assert outcome.stdout.rstrip().endswith(f"Results: {tmp_path / 'orders.results.2.csv'}")
    rows = read_results_csv(tmp_path / "orders.results.2.csv")
    assert [row["status"] for row in rows] == ["valid", "valid"]


def test_validate_after_submit_keeps_xlsx_results_too(tmp_path: Path, sandbox: Sandbox) -> None:
    source = submitted(tmp_path, sandbox, "orders.xlsx")
    sent = (tmp_path / "orders.results.xlsx").read_bytes()

    outcome = run_cli("validate", source)

    assert outcome.exit_code == 0
    assert (tmp_path / "orders.results.xlsx").read_bytes() == sent
    assert (tmp_path / "orders.results.2.xlsx").exists()


def test_an_explicit_results_path_that_records_sent_rows_is_kept(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    source = submitted(tmp_path, sandbox)
    sent = tmp_path / "orders.results.csv"
    before = sent.read_bytes()

    outcome = run_cli("validate", source, "--results", sent)

    assert sent.read_bytes() == before
    assert outcome.stdout.rstrip().endswith(f"Results: {tmp_path / 'orders.results.2.csv'}")


def test_results_without_sent_rows_are_replaced_as_before(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(csv_text([HEADER, *ROWS]), encoding="utf-8")
    for _ in range(2):
        outcome = run_cli("validate", source)
        assert outcome.stdout.rstrip().endswith(f"Results: {tmp_path / 'orders.results.csv'}")
    assert not (tmp_path / "orders.results.2.csv").exists()
