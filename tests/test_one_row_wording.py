"""Counts of one read in the singular: "1 row", never "1 rows", wherever a count is printed."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from conftest import HEADER, WriteCsv, read_results_csv, run_cli, sandbox_env

from lac_batch.ledger.store import Ledger, recovered_notice
from lac_batch.sandbox import Sandbox

# "1 rows", "1 requests", "1 files"; not "2,001 rows" nor "0.1 s".
ONE_PLURAL = re.compile(r"(?<![\d.,])\b1 [a-z]+s\b")


def plurals_of_one(text: str) -> list[str]:
    return ONE_PLURAL.findall(text)


def test_the_pattern_finds_what_it_should() -> None:
    assert plurals_of_one("x.csv: 1 rows: valid 1; 1 requests were") == ["1 rows", "1 requests"]
    assert plurals_of_one("2,001 rows, 11 rows, 0.1 seconds, 1 row, elapsed 1 s") == []


def test_validate_of_one_row_says_1_row(write_csv: WriteCsv) -> None:
    path = write_csv([HEADER, ["bank:op", "setup", "", ""]])
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 0, outcome.output
    assert f"{path}: 1 row: valid 1" in outcome.stdout
    assert plurals_of_one(outcome.output) == []


def test_validate_of_one_invalid_row_says_1_row(write_csv: WriteCsv) -> None:
    path = write_csv([HEADER, ["", "setup", "", ""]])
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 1, outcome.output
    assert plurals_of_one(outcome.output) == []


def test_submit_sandbox_of_one_row_says_1_row(write_csv: WriteCsv) -> None:
    path = write_csv([HEADER, ["bank:op", "setup", "", ""]])
    outcome = run_cli("submit", path, "--sandbox")
    assert outcome.exit_code == 0, outcome.output
    assert "1 row" in outcome.stdout
    assert plurals_of_one(outcome.output) == []


def test_require_all_valid_with_one_invalid_row_says_1_row(write_csv: WriteCsv) -> None:
    path = write_csv([HEADER, ["bank:op", "setup", "", ""], ["", "setup", "", ""]])
    outcome = run_cli("submit", path, "--sandbox", "--require-all-valid")
    assert outcome.exit_code == 1, outcome.output
    errors = [row["error"] for row in read_results_csv(path.with_suffix(".results.csv"))]
    assert "require-all-valid and 1 row is invalid" in errors[0]
    assert plurals_of_one(outcome.output + "\n".join(errors)) == []


@pytest.fixture
def one_row_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("LAC_LEDGER", raising=False)
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        'rate = 300\nsettle_seconds = 0\nledger = "state/ledger.sqlite3"\n', encoding="utf-8"
    )
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()
    Ledger.open(tmp_path / "state" / "ledger.sqlite3").close()
    dropped = tmp_path / "inbox" / "one.csv"
    dropped.write_text("connection_key,request_type\nbank:op,setup\n", encoding="utf-8")
    old = time.time() - 60
    os.utime(dropped, (old, old))
    return config


def test_run_of_one_file_with_one_row_says_1_row_and_1_file(
    one_row_inbox: Path, sandbox: Sandbox
) -> None:
    outcome = run_cli("run", "--once", "--config", one_row_inbox, env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    assert "one.csv: 1 row: accepted 1" in outcome.output
    assert "1 of 1 file processed" in outcome.output
    assert plurals_of_one(outcome.output) == []


def test_ledger_prune_of_one_record_says_1_request_record(
    write_csv: WriteCsv, sandbox: Sandbox
) -> None:
    path = write_csv([HEADER, ["bank:op", "setup", "", ""]])
    assert run_cli("submit", path, env=sandbox_env(sandbox)).exit_code == 0
    outcome = run_cli("ledger", "prune", "--older-than", "0h")
    assert outcome.exit_code == 0, outcome.output
    assert "Deleted 1 request record and 1 run older than 0h." in outcome.stdout


def test_recovered_requests_of_one_say_it_was() -> None:
    assert recovered_notice(1) == (
        "1 request was being sent when an earlier run stopped; it is now 'unknown' "
        "(it may have been processed)"
    )
    assert recovered_notice(3).startswith("3 requests were being sent")
