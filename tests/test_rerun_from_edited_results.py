"""A results file opened in a spreadsheet program, fixed and saved, then submitted again.

What a results file says was sent is never sent again: not when the spreadsheet program changed
the row (``007`` → ``7``), not against another machine's empty ledger. The sandbox counts every
POST it receives per Idempotency-Key, so the tests check what was really sent.

The edited file is built here the way LibreOffice Calc 7.4 saves a CSV it opened with its
defaults (checked once with ``soffice --headless --convert-to csv`` on a real results file):
numbers detected, so leading zeros are gone (``007`` → ``7``, ``00789`` → ``789``); the BOM kept;
LF line ends; quotes only around cells that need them; the ``sent_to`` cell unchanged.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
from conftest import csv_text, read_results_csv, run_cli, sandbox_env

from lac_batch.sandbox import FaultConfig, Sandbox, running_sandbox

pytestmark = pytest.mark.usefixtures("ledger_location")

FAST = ["--rate", "300", "--concurrency", "4"]
HEADER = [
    "connection_key",
    "request_type",
    "customer_id",
    "note",
    "metadata.branch",
    "metadata.account",
]
ROWS = [
    ["bank:nordea", "setup", "", "Hello, world", "007", "00789"],
    ["bank:op", "setup", "", "plain", "010", "00123"],
    ["", "setup", "", "the row to fix", "011", "00456"],
]
_DIGITS = re.compile(r"\d+")


def as_spreadsheet_saves_it(text: str) -> str:
    """``text`` (a CSV results file) as LibreOffice Calc saves it after opening it."""
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    for row in rows[1:]:
        for position, cell in enumerate(row):
            if _DIGITS.fullmatch(cell):
                row[position] = str(int(cell))
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return "\ufeff" + buffer.getvalue()


def fix_the_invalid_row(text: str) -> str:
    return text.replace(",invalid,", ",,").replace(
        ",,,setup,,the row to fix", ",,bank:s,setup,,the row to fix"
    )


def submit(path: Path, server: Sandbox, *extra: str, ledger: Path | None = None) -> tuple[int, str]:
    env = sandbox_env(server)
    if ledger is not None:
        # A named ledger's folder must exist: lac-batch never creates it.
        ledger.parent.mkdir(parents=True, exist_ok=True)
        env["LAC_LEDGER"] = str(ledger)
    outcome = run_cli("submit", path, *FAST, *extra, env=env)
    return outcome.exit_code, outcome.output


def first_submit(tmp_path: Path, server: Sandbox) -> tuple[Path, list[dict[str, str]]]:
    source = tmp_path / "orders.csv"
    source.write_text(csv_text([HEADER, *ROWS]), encoding="utf-8")
    code, _ = submit(source, server)
    assert code == 1
    results = tmp_path / "orders.results.csv"
    rows = read_results_csv(results)
    assert [row["status"] for row in rows] == ["accepted", "accepted", "invalid"]
    return results, rows


def edit_in_spreadsheet(results: Path) -> None:
    saved = fix_the_invalid_row(as_spreadsheet_saves_it(results.read_text(encoding="utf-8-sig")))
    assert ",007," not in saved and ",7,789" in saved  # the damage a spreadsheet program does
    results.write_bytes(saved.encode("utf-8"))


def test_accepted_rows_changed_by_a_spreadsheet_are_not_sent_again(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    results, first = first_submit(tmp_path, sandbox)
    sent_first = sandbox.received()
    edit_in_spreadsheet(results)

    code, output = submit(results, sandbox)

    received = sandbox.received()
    assert code == 0
    assert sum(received.values()) == 3  # the two accepted rows once each, the fixed row once
    assert all(count == 1 for count in received.values())
    assert set(sent_first) < set(received)
    again = read_results_csv(tmp_path / "orders.results.2.csv")
    assert [row["status"] for row in again] == ["skipped", "skipped", "accepted"]
    assert [row["event_id"] for row in again[:2]] == [row["event_id"] for row in first[:2]]
    assert "changed since it was accepted: metadata.account, metadata.branch" in again[0]["error"]
    assert "row 2: changed since it was accepted: metadata.account, metadata.branch" in output


def test_a_results_file_against_an_empty_ledger_sends_only_the_fixed_row(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    results, first = first_submit(tmp_path, sandbox)
    edit_in_spreadsheet(results)

    code, _ = submit(results, sandbox, ledger=tmp_path / "other-machine" / "ledger.sqlite3")

    received = sandbox.received()
    assert code == 0
    assert sum(received.values()) == 3
    again = read_results_csv(tmp_path / "orders.results.2.csv")
    assert [row["status"] for row in again] == ["skipped", "skipped", "accepted"]
    assert [row["event_id"] for row in again[:2]] == [row["event_id"] for row in first[:2]]
    assert "as this results file says" in again[0]["error"]


def test_results_of_another_host_are_not_trusted_and_the_output_says_so_once(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    results, _ = first_submit(tmp_path, sandbox)
    edit_in_spreadsheet(results)
    with running_sandbox() as production:
        code, output = submit(results, production)
        received = production.received()
    assert code == 0
    assert sum(received.values()) == 3  # every row planned from the ledger, which knows none
    assert output.count("were not trusted") == 1
    assert "2 rows of the results file say they were sent to" in output


def test_an_emptied_status_cell_makes_a_new_row(tmp_path: Path, sandbox: Sandbox) -> None:
    results, _ = first_submit(tmp_path, sandbox)
    edit_in_spreadsheet(results)
    text = results.read_text(encoding="utf-8-sig")
    results.write_text(
        text.replace("2,skipped", "2,").replace("\n2,accepted,", "\n2,,"), encoding="utf-8-sig"
    )

    code, _ = submit(results, sandbox)

    again = read_results_csv(tmp_path / "orders.results.2.csv")
    assert code == 0
    assert [row["status"] for row in again] == ["accepted", "skipped", "accepted"]
    assert sum(sandbox.received().values()) == 4


def test_an_unknown_row_stays_unknown_against_an_empty_ledger(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    sandbox.set_faults(FaultConfig(p_close_after=1.0))
    source = tmp_path / "orders.csv"
    source.write_text(csv_text([HEADER, ROWS[0]]), encoding="utf-8")
    assert submit(source, sandbox)[0] == 1
    results = tmp_path / "orders.results.csv"
    assert read_results_csv(results)[0]["status"] == "unknown"
    sandbox.set_faults(FaultConfig())
    results.write_bytes(as_spreadsheet_saves_it(results.read_text(encoding="utf-8-sig")).encode())
    empty = tmp_path / "other-machine" / "ledger.sqlite3"

    code, _ = submit(results, sandbox, ledger=empty)
    assert code == 1
    assert read_results_csv(tmp_path / "orders.results.2.csv")[0]["status"] == "unknown"
    assert sum(sandbox.received().values()) == 1

    code, _ = submit(results, sandbox, "--resend-unknown", ledger=empty)
    assert code == 0
    assert read_results_csv(tmp_path / "orders.results.3.csv")[0]["status"] == "accepted"
    assert sum(sandbox.received().values()) == 2


def test_force_sends_rows_the_results_file_says_were_accepted(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    results, _ = first_submit(tmp_path, sandbox)
    edit_in_spreadsheet(results)
    code, _ = submit(results, sandbox, "--force")
    assert code == 0
    assert [row["status"] for row in read_results_csv(tmp_path / "orders.results.2.csv")] == [
        "accepted",
        "accepted",
        "accepted",
    ]
    assert sum(sandbox.received().values()) == 5
    assert Counter(sandbox.received().values()) == {1: 5}


def test_xlsx_results_against_an_empty_ledger_send_nothing_again(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    source = tmp_path / "orders.xlsx"
    workbook = openpyxl.Workbook()
    for row in [HEADER, *ROWS[:2]]:
        workbook.active.append(row)
    workbook.save(source)
    assert submit(source, sandbox)[0] == 0

    code, output = submit(
        tmp_path / "orders.results.xlsx", sandbox, ledger=tmp_path / "other" / "ledger.sqlite3"
    )

    assert code == 0, output
    assert sum(sandbox.received().values()) == 2
    assert "skipped 2" in output


def test_run_skips_what_a_results_file_in_the_inbox_says_was_accepted(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    results, _ = first_submit(tmp_path, sandbox)
    edit_in_spreadsheet(results)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    dropped = results.rename(inbox / results.name)
    old = time.time() - 60
    os.utime(dropped, (old, old))
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        f'rate = 300\nsettle_seconds = 0\n\n[folders]\ninbox = "{inbox}"\n', encoding="utf-8"
    )

    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))

    assert outcome.exit_code == 0, outcome.output
    assert sum(sandbox.received().values()) == 3
    assert "2 rows accepted earlier changed since and were not sent again" in outcome.output


def test_a_sandbox_results_file_fed_back_to_the_sandbox_sends_nothing_again(
    tmp_path: Path,
) -> None:
    # `submit --sandbox` starts a new embedded sandbox on a new port every time, with a
    # throwaway ledger: only the result block can stop the resend, so it must name the
    # sandbox the same way every run.
    source = tmp_path / "orders.csv"
    source.write_text(csv_text([HEADER, *ROWS]), encoding="utf-8")
    first = run_cli("submit", "--sandbox", source, *FAST)
    assert first.exit_code == 1, first.output  # one invalid row
    rows = read_results_csv(tmp_path / "orders.results.csv")
    assert {row["sent_to"].split(" at ")[0].split("@")[1] for row in rows if row["sent_to"]} == {
        "embedded-sandbox"
    }
    second = run_cli(
        "submit",
        "--sandbox",
        tmp_path / "orders.results.csv",
        *FAST,
        "--results",
        tmp_path / "again.csv",
    )
    again = read_results_csv(tmp_path / "again.csv")
    accepted = {row["row"]: row["event_id"] for row in rows if row["status"] == "accepted"}
    assert accepted
    assert {row["row"]: row["event_id"] for row in again if row["status"] == "skipped"} == accepted
    assert "not trusted" not in second.output
