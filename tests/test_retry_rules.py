"""The rules of retrying failed rows and of the unknowns worklist, through the command line and
the library, against sandboxes with their idempotency off, counting what each server received
per Idempotency-Key; and ``run --once``'s retry pass at later moments of an injected clock."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import HEADER, CliOutcome, WriteCsv, run_cli, sandbox_env

import lac_batch
from lac_batch.cli.main import main
from lac_batch.jobs.retry import Clock
from lac_batch.sandbox import FaultConfig, Sandbox, SandboxKey, running_sandbox
from lac_batch.sandbox.keys import SANDBOX_COMPANY_ID

ROWS = [HEADER, *[[f"bank:b{n}", "setup", "", f"row {n}"] for n in range(3)]]
FAST_FAIL = {"LAC_MAX_WAIT": "0", "LAC_MAX_ATTEMPTS": "1", "LAC_RATE": "300"}
"""A 503 fails the row at once (its waiting ran out): a failed row whose attempts ran out."""


def ledger_path() -> str:
    return os.environ["LAC_LEDGER"]


def later(minutes: float) -> Callable[[], datetime]:
    moment = datetime.now(UTC) + timedelta(minutes=minutes)
    return lambda: moment


def cli_at(clock: Callable[[], datetime], *args: str | Path, env: dict[str, str]) -> CliOutcome:
    """``lac-batch ARGS`` in this process, with "now" at ``clock`` for its retry pass."""
    result = CliRunner().invoke(
        main, [str(arg) for arg in args], catch_exceptions=False, env=env, obj=Clock(clock)
    )
    assert "Traceback" not in result.output
    return CliOutcome(result.exit_code, result.stdout, result.stderr)


def options(base_url: str, key: str, account: str = "") -> lac_batch.SubmitOptions:
    settings = lac_batch.Settings(base_url=base_url, rate=300.0)
    return lac_batch.SubmitOptions(
        base_url=base_url,
        api_key=lac_batch.ApiKey(key),
        settings=settings.submit_settings(),
        account=account or None,
    )


def fail_in_a_503_storm(sandbox: Sandbox, path: Path, env: dict[str, str]) -> None:
    sandbox.set_faults(FaultConfig(p_503=1.0))
    outcome = run_cli("submit", path, env={**env, **FAST_FAIL})
    assert outcome.exit_code == 1, outcome.output
    sandbox.set_faults(FaultConfig())


# --- (a) where a failed record goes -------------------------------------------------------------


def test_a_failed_record_is_resent_where_it_was_recorded_not_to_the_base_url_configured_now(
    write_csv: WriteCsv, sandbox: Sandbox
) -> None:
    path = write_csv(ROWS)
    fail_in_a_503_storm(sandbox, path, sandbox_env(sandbox))
    keys = set(sandbox.received())
    assert len(keys) == 3
    with running_sandbox(honour_idempotency_key=False) as configured_now:
        # The configuration now names another base URL: `retry` resends to the recorded one.
        env = {**sandbox_env(configured_now), "LAC_RATE": "300"}
        outcome = cli_at(later(6), "retry", "--results-folder", path.parent, env=env)
        assert outcome.exit_code == 0, outcome.output
        assert configured_now.received() == {}
        assert configured_now.events() == []
    assert {event.idempotency_key for event in sandbox.events()} == keys
    assert all(sandbox.received()[key] == 2 for key in keys)  # the 503, then one 202
    assert {event.company_id for event in sandbox.events()} == {SANDBOX_COMPANY_ID}
    assert "Retried 3 failed rows: accepted 3 (3 of them sent by submit)" in outcome.stdout


def test_retry_with_a_sandbox_key_needs_no_base_url_and_names_where_it_sends(
    write_csv: WriteCsv, sandbox: Sandbox
) -> None:
    path = write_csv(ROWS)
    env = sandbox_env(sandbox)
    fail_in_a_503_storm(sandbox, path, env)
    # No base URL configured (production is the default): the sandbox key's records go back
    # to the sandbox on this machine they were recorded with, and retry says so.
    without_url = {name: value for name, value in env.items() if name != "LAC_BASE_URL"}
    outcome = cli_at(later(6), "retry", "--results-folder", path.parent, env=without_url)
    assert outcome.exit_code == 0, outcome.output
    host = sandbox.base_url.split("//")[1].split("/")[0]
    assert f"row 2 (sent by submit) to {host}: accepted" in outcome.stdout
    assert len(sandbox.events()) == 3


# --- (b) a refused key holds its rows back -------------------------------------------------------

OLD_KEY, NEW_KEY = "lac_sk_old_write", "lac_sk_new_write"


def test_rows_of_a_refused_key_wait_until_a_pass_of_that_account_has_the_key_accepted(
    write_csv: WriteCsv,
) -> None:
    keys = [SandboxKey(key, "write", SANDBOX_COMPANY_ID) for key in (OLD_KEY, NEW_KEY)]
    with running_sandbox(keys=keys, honour_idempotency_key=False) as sandbox:
        path = write_csv(ROWS)
        env = {**sandbox_env(sandbox, key=OLD_KEY), "LAC_ACCOUNT": "acme"}
        fail_in_a_503_storm(sandbox, path, env)
        failed_keys = set(sandbox.received())
        # The key is revoked before the first retry: that pass is refused (exit 3).
        sandbox.revoke_key(OLD_KEY)
        refused = lac_batch.retry_failed(
            options(sandbox.base_url, OLD_KEY, "acme"), ledger=ledger_path(), now=later(6)
        )
        assert int(refused.exit_code) == 3
        before = sandbox.received()
        # The operator configures the new key: nothing of the file is retried yet, however late.
        waiting = lac_batch.retry_failed(
            options(sandbox.base_url, NEW_KEY, "acme"), ledger=ledger_path(), now=later(600)
        )
        assert waiting.retried == [] and not waiting.left
        assert sandbox.received() == before
        # A pass of that account has the key accepted (another file); now they are retried.
        other = write_csv([HEADER, ["bank:other", "setup", "", "x"]], name="other.csv")
        sent = run_cli("submit", other, env={**env, "LAC_API_KEY": NEW_KEY})
        assert sent.exit_code == 0, sent.output
        done = lac_batch.retry_failed(
            options(sandbox.base_url, NEW_KEY, "acme"), ledger=ledger_path(), now=later(1200)
        )
        assert [row.result.status.value for row in done.retried] == ["accepted"] * 3
        accepted = [event.idempotency_key for event in sandbox.events()]
        assert {key for key in accepted if key in failed_keys} == failed_keys
        assert len(accepted) == 4  # each failed row once, and the other file's row


# --- (c) unknowns: formats and --since -----------------------------------------------------------


def two_unknowns(write_csv: WriteCsv, sandbox: Sandbox) -> Path:
    """Rows 2 and 3 left unknown (the connection closed after the server processed them); row
    2's last send made three days old."""
    path = write_csv(ROWS[:3])
    sandbox.set_faults(FaultConfig(p_close_after=1.0))
    assert run_cli("submit", path, env={**sandbox_env(sandbox), **FAST_FAIL}).exit_code == 1
    sandbox.set_faults(FaultConfig())
    old = (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="microseconds")
    with sqlite3.connect(ledger_path()) as db:
        db.execute("UPDATE requests SET last_at = ? WHERE row_number = 2", (old,))
    db.close()
    return path


def test_unknowns_lists_as_table_csv_and_json(write_csv: WriteCsv, sandbox: Sandbox) -> None:
    path = two_unknowns(write_csv, sandbox)
    keys = {
        int(item.row_number): item.idempotency_key for item in lac_batch.unknowns(ledger_path())
    }
    assert sorted(keys) == [2, 3]

    table = run_cli("unknowns")
    assert table.exit_code == 0, table.output
    assert "requests.csv row 2" in table.stdout and "requests.csv row 3" in table.stdout
    assert keys[2] in table.stdout and "connection_key=bank:b0" in table.stdout
    assert "2 requests are unknown" in table.stdout and "lac-batch resolve" in table.stdout

    as_csv = run_cli("unknowns", "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(row["file"], row["row"], row["idempotency_key"]) for row in rows] == [
        ("requests.csv", "2", keys[2]),
        ("requests.csv", "3", keys[3]),
    ]

    as_json = run_cli("unknowns", "--format", "json", "--file", path)
    assert as_json.exit_code == 0, as_json.output
    listed = json.loads(as_json.stdout)
    assert [(item["row_number"], item["idempotency_key"]) for item in listed] == [
        (2, keys[2]),
        (3, keys[3]),
    ]
    assert listed[0]["fields"]["connection_key"] == "bank:b0"

    one = run_cli("unknowns", "--since", "1d")
    assert "1 request is unknown" in one.stdout


@pytest.mark.parametrize(
    ("since", "rows"),
    [
        ("1d", [3]),
        ("36h", [3]),
        ("7d", [2, 3]),
        ((datetime.now() - timedelta(days=1)).strftime("%Y-%m-%d"), [3]),
        ((datetime.now(UTC) - timedelta(days=4)).isoformat(timespec="seconds"), [2, 3]),
        ((datetime.now() + timedelta(days=2)).strftime("%Y-%m-%d"), []),
    ],
)
def test_unknowns_since_an_age_or_a_date(
    write_csv: WriteCsv, sandbox: Sandbox, since: str, rows: list[int]
) -> None:
    two_unknowns(write_csv, sandbox)
    listed = run_cli("unknowns", "--since", since, "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert [item["row_number"] for item in json.loads(listed.stdout)] == rows


@pytest.mark.parametrize("since", ["yesterday", "7x", "2026-13-45", "", "-3d"])
def test_an_unparsable_since_is_exit_2_naming_the_flag(since: str) -> None:
    outcome = run_cli("unknowns", "--since", since)
    assert outcome.exit_code == 2, outcome.output
    assert "--since" in outcome.stderr and "Traceback" not in outcome.output
    assert outcome.stdout == ""


# --- run --once's retry pass at later moments ---------------------------------------------------


def inbox_with_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "lac-batch.toml"
    config.write_text("rate = 300\nsettle_seconds = 0\n", encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    source = tmp_path / "inbox" / "orders.csv"
    source.write_text("\n".join(",".join(row) for row in ROWS) + "\n", encoding="utf-8")
    os.utime(source, (time.time() - 60, time.time() - 60))
    monkeypatch.chdir(tmp_path)
    return config


def test_run_once_retries_its_failed_rows_only_after_5_minutes(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = inbox_with_a_file(tmp_path, monkeypatch)
    env = {**sandbox_env(sandbox), **FAST_FAIL}
    sandbox.set_faults(FaultConfig(p_503=1.0))
    first = run_cli("run", "--once", "--config", config, env=env)
    assert first.exit_code == 1, first.output
    sandbox.set_faults(FaultConfig())
    failed = set(sandbox.received())

    early = cli_at(later(4), "run", "--once", "--config", config, env=env)
    assert early.exit_code == 0, early.output
    assert "retry pass" not in early.stderr and sandbox.events() == []

    due = cli_at(later(6), "run", "--once", "--config", config, env=env)
    assert due.exit_code == 0, due.output
    assert "retry pass: 3 failed rows retried (orders.csv rows 2, 3, 4): accepted 3" in due.stderr
    assert [event.idempotency_key in failed for event in sandbox.events()] == [True] * 3
    assert all(sandbox.received()[key] == 2 for key in failed)


def test_run_once_stops_retrying_after_24_hours_and_says_so_once(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = inbox_with_a_file(tmp_path, monkeypatch)
    env = {**sandbox_env(sandbox), **FAST_FAIL}
    sandbox.set_faults(FaultConfig(p_503=1.0))
    assert run_cli("run", "--once", "--config", config, env=env).exit_code == 1
    sandbox.set_faults(FaultConfig())
    sent = sandbox.received()

    expired = cli_at(later(24 * 60 + 1), "run", "--once", "--config", config, env=env)
    assert expired.exit_code == 1, expired.output
    assert (
        "3 failed rows are no longer retried (retry_failed_for is over; submit the file again "
        "to resend): orders.csv row 2" in expired.stderr
    )
    told = cli_at(later(24 * 60 + 30), "run", "--once", "--config", config, env=env)
    assert told.exit_code == 0, told.output
    assert "retry pass" not in told.stderr
    assert sandbox.received() == sent and sandbox.events() == []
