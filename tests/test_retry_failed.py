"""Closing the loop on rows that did not go through: failed rows retried by later passes, the
worklist of unknowns, resolving one, and a request's history. Against the sandbox with its
idempotency off, counting what it received per Idempotency-Key."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import (
    HEADER,
    SAMPLES,
    WriteCsv,
    open_ledger,
    read_results_csv,
    run_cli,
    sandbox_env,
)

import lac_batch
from lac_batch.ledger.store import SCHEMA_VERSION, Ledger
from lac_batch.sandbox import FaultConfig, Sandbox

ROWS = [HEADER, *[[f"bank:b{n}", "setup", "", f"row {n}"] for n in range(3)]]
FAST_FAIL = {"LAC_MAX_WAIT": "0", "LAC_MAX_ATTEMPTS": "1", "LAC_RATE": "300"}
"""A 503 fails the row at once (its waiting ran out): a failed row whose attempts ran out."""


def ledger_path() -> str:
    """The test's own ledger (conftest's private_ledger names it in LAC_LEDGER)."""
    return os.environ["LAC_LEDGER"]


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def options(sandbox: Sandbox) -> lac_batch.SubmitOptions:
    settings = lac_batch.Settings(base_url=sandbox.base_url, rate=300.0)
    return lac_batch.SubmitOptions(
        base_url=sandbox.base_url,
        api_key=lac_batch.ApiKey(sandbox_env(sandbox)["LAC_API_KEY"]),
        settings=settings.submit_settings(),
    )


def accepted_per_key(sandbox: Sandbox) -> Counter[str | None]:
    return Counter(event.idempotency_key for event in sandbox.events())


def ledger_states(path: Path | str) -> dict[int, tuple[str, str]]:
    ledger = open_ledger(str(path))
    try:
        rows = ledger.query("SELECT row_number, state, failed_why FROM requests")
    finally:
        ledger.close()
    return {int(row): (state, why) for row, state, why in rows}


def submit_failing(sandbox: Sandbox, path: Path) -> None:
    sandbox.set_faults(FaultConfig(p_503=1.0))
    outcome = run_cli("submit", path, env={**sandbox_env(sandbox), **FAST_FAIL})
    assert outcome.exit_code == 1, outcome.output
    sandbox.set_faults(FaultConfig())


def test_failed_rows_of_a_503_storm_are_completed_by_a_later_pass_once_each(
    write_csv: WriteCsv, sandbox: Sandbox, ledger_location: str, tmp_path: Path
) -> None:
    path = write_csv(ROWS)
    submit_failing(sandbox, path)
    assert {state for state, _ in ledger_states(ledger_location).values()} == {"failed"}
    assert {why for _, why in ledger_states(ledger_location).values()} == {"ran_out"}

    # Not due before 5 minutes: nothing is sent.
    early = lac_batch.retry_failed(options(sandbox), ledger=ledger_path(), now=lambda: later(1))
    assert early.retried == [] and early.waiting == 3
    outcome = lac_batch.retry_failed(
        options(sandbox), ledger=ledger_path(), now=lambda: later(6), results_folder=tmp_path
    )
    assert [row.result.status.value for row in outcome.retried] == ["accepted"] * 3
    assert len(outcome.from_submit) == 3  # `retry` takes submit's records, and says so
    assert sorted(accepted_per_key(sandbox).values()) == [1, 1, 1]
    received = sandbox.received()
    assert all(received[row.idempotency_key] == 2 for row in outcome.retried)  # 503, then 202

    # The pass's own results file names the input and rows; report --file shows the latest.
    assert outcome.results_path is not None and outcome.results_path.parent == tmp_path
    written = read_results_csv(outcome.results_path)
    assert [(r["file"], r["row"], r["status"]) for r in written] == [
        (str(path.resolve()), str(n), "accepted") for n in (2, 3, 4)
    ]
    rebuilt = tmp_path / "rebuilt.csv"
    report = run_cli("report", "--file", path, "--results", rebuilt)
    assert report.exit_code == 0, report.output
    assert {row["status"] for row in read_results_csv(rebuilt)} == {"accepted"}

    # Nothing is left to retry, and a rerun of the file skips every row.
    again = lac_batch.retry_failed(options(sandbox), ledger=ledger_path(), now=lambda: later(600))
    assert again.retried == [] and again.expired == []
    assert run_cli("submit", path, env=sandbox_env(sandbox)).exit_code == 0
    assert sorted(accepted_per_key(sandbox).values()) == [1, 1, 1]


def test_run_retries_only_its_own_records(
    write_csv: WriteCsv, sandbox: Sandbox, tmp_path: Path
) -> None:
    submit_failing(sandbox, write_csv(ROWS))
    outcome = lac_batch.retry_failed(
        options(sandbox), ledger=ledger_path(), include_submit=False, now=lambda: later(6)
    )
    assert outcome.retried == [] and outcome.waiting == 0
    assert sandbox.events() == []


def test_failed_rows_stop_being_retried_after_retry_failed_for_and_are_told_once(
    write_csv: WriteCsv, sandbox: Sandbox, private_ledger: Path
) -> None:
    submit_failing(sandbox, write_csv(ROWS))
    expired = lac_batch.retry_failed(
        options(sandbox), ledger=ledger_path(), now=lambda: later(24 * 60 + 1)
    )
    assert len(expired.expired) == 3 and expired.retried == []
    assert int(expired.exit_code) == 1
    # Told once: the next pass does not find them again, and they stay failed.
    after = lac_batch.retry_failed(
        options(sandbox), ledger=ledger_path(), now=lambda: later(24 * 60 + 30)
    )
    assert after.expired == [] and after.retried == []
    assert {state for state, _ in ledger_states(private_ledger).values()} == {"failed"}
    assert sandbox.events() == []
    # Off with retry_failed_for = 0.
    off = lac_batch.retry_failed(
        options(sandbox), ledger=ledger_path(), retry_failed_for=timedelta(0)
    )
    assert not off.anything


def test_rows_a_stopped_run_left_failed_are_not_retried(
    write_csv: WriteCsv, sandbox: Sandbox, private_ledger: Path
) -> None:
    """A refused key leaves rows failed that the server never refused: not retried."""
    path = write_csv(ROWS)
    outcome = run_cli("submit", path, env={**sandbox_env(sandbox, key="wrong-key"), **FAST_FAIL})
    assert outcome.exit_code == 3, outcome.output
    states = ledger_states(private_ledger)
    assert all(why == "stopped" for state, why in states.values() if state == "failed")
    retried = lac_batch.retry_failed(options(sandbox), ledger=ledger_path(), now=lambda: later(10))
    assert retried.retried == []


def test_a_row_resent_by_a_later_run_is_not_retried(write_csv: WriteCsv, sandbox: Sandbox) -> None:
    path = write_csv(ROWS)
    submit_failing(sandbox, path)
    # The operator fixed row 2 and sent the file again; it fails again (503) under a new body.
    fixed = [ROWS[0], ["bank:fixed", "setup", "", "row 0"], *ROWS[2:]]
    write_csv(fixed)
    sandbox.set_faults(FaultConfig(p_503=1.0))
    run_cli("submit", path, env={**sandbox_env(sandbox), **FAST_FAIL})
    sandbox.set_faults(FaultConfig())
    outcome = lac_batch.retry_failed(options(sandbox), ledger=ledger_path(), now=lambda: later(6))
    bodies = sorted(event.body["connection_key"] for event in sandbox.events())
    # Row 2's first body is not sent: a later run sent that row again, changed.
    assert bodies == ["bank:b1", "bank:b2", "bank:fixed"]
    assert len(outcome.retried) == 3


def test_a_record_whose_account_has_no_key_now_is_left_and_said(
    write_csv: WriteCsv, sandbox: Sandbox
) -> None:
    submit_failing(sandbox, write_csv(ROWS))
    other = lac_batch.SubmitOptions(
        base_url=sandbox.base_url,
        api_key=lac_batch.ApiKey("another-key-entirely"),
        settings=options(sandbox).settings,
    )
    outcome = lac_batch.retry_failed(other, ledger=ledger_path(), now=lambda: later(6))
    assert outcome.retried == [] and len(outcome.left) == 3
    assert "no API key for account" in outcome.left[0].why
    assert sandbox.events() == []


def unknown_after_close(sandbox: Sandbox, path: Path) -> str:
    sandbox.set_faults(FaultConfig(p_close_after=1.0))
    outcome = run_cli("submit", path, env={**sandbox_env(sandbox), **FAST_FAIL})
    assert outcome.exit_code == 1, outcome.output
    sandbox.set_faults(FaultConfig())
    unknown = lac_batch.unknowns(ledger_path(), file=path)
    assert [item.row_number for item in unknown] == [2]
    assert unknown[0].fields["connection_key"] == "bank:b0"
    return unknown[0].idempotency_key


def test_unknown_resolved_not_processed_is_resent_once_with_the_same_key(
    write_csv: WriteCsv, sandbox: Sandbox, tmp_path: Path, ledger_location: str
) -> None:
    path = write_csv(ROWS[:2])
    key = unknown_after_close(sandbox, path)
    listed = run_cli("unknowns", "--format", "json")
    assert json.loads(listed.stdout)[0]["idempotency_key"] == key
    resolved = run_cli("resolve", "--file", path, "--row", "2", "--not-processed", "--note", "x")
    assert resolved.exit_code == 0, resolved.output
    assert lac_batch.unknowns(ledger_path()) == []
    outcome = lac_batch.retry_failed(options(sandbox), ledger=ledger_path())  # due at once
    assert [row.result.status.value for row in outcome.retried] == ["accepted"]
    assert sandbox.received()[key] == 2  # the ambiguous one, then exactly one resend
    again = lac_batch.retry_failed(options(sandbox), ledger=ledger_path(), now=lambda: later(600))
    assert again.retried == []
    assert run_cli("submit", path, env=sandbox_env(sandbox)).exit_code == 0
    assert sandbox.received()[key] == 2
    history = run_cli("report", "--file", path, "--row", "2")
    assert "resolved not processed" in history.stdout and "x" in history.stdout
    assert history.stdout.count(key) >= 2


def test_unknown_resolved_accepted_is_skipped_by_a_rerun_of_the_file_and_its_results(
    write_csv: WriteCsv, sandbox: Sandbox, ledger_location: str
) -> None:
    path = write_csv(ROWS[:2])
    key = unknown_after_close(sandbox, path)
    results = path.with_name("requests.results.csv")
    assert read_results_csv(results)[0]["status"] == "unknown"
    resolved = run_cli("resolve", "--key", key, "--accepted", "--event-id", "evt_portal")
    assert resolved.exit_code == 0, resolved.output
    rerun = run_cli("submit", path, env=sandbox_env(sandbox))
    assert rerun.exit_code == 0, rerun.output
    from_results = run_cli(
        "submit", results, "--results", path.with_name("again.csv"), env=sandbox_env(sandbox)
    )
    assert from_results.exit_code == 0, from_results.output
    assert read_results_csv(path.with_name("again.csv"))[0]["status"] == "skipped"
    assert sandbox.received()[key] == 1
    history = lac_batch.request_history(ledger_path(), key=key)
    assert history.resolutions[0].resolution == "accepted"
    assert history.records[0].event_id == "evt_portal"
    assert [entry.status for entry in history.entries][:1] == ["unknown"]


def test_resolving_a_settled_request_is_refused_and_changes_nothing(
    write_csv: WriteCsv, sandbox: Sandbox, ledger_location: str
) -> None:
    path = write_csv(ROWS[:2])
    assert run_cli("submit", path, env=sandbox_env(sandbox)).exit_code == 0
    outcome = run_cli("resolve", "--file", path, "--row", "2", "--not-processed")
    assert outcome.exit_code == 2 and "is accepted, not unknown or failed" in outcome.stderr


def test_the_migration_brings_the_ledger_to_the_current_version(private_ledger: Path) -> None:
    ledger = Ledger.open(private_ledger)
    try:
        assert ledger.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    finally:
        ledger.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_9_during_a_retry_pass_then_another_pass_no_duplicates_nothing_lost(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path
) -> None:
    path = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    submit_failing(sandbox, path)
    # The retry pass's first try is due 5 minutes after the failure: make it due now.
    ledger = Ledger.open(private_ledger)
    ledger.query("UPDATE requests SET last_at = '2000-01-01T00:00:00+00:00'")
    ledger.close()
    sandbox.set_faults(FaultConfig(latency_s=0.02, latency_jitter_s=0.05, seed=1))
    env = {**os.environ, **sandbox_env(sandbox), "LAC_RATE": "40", "LAC_CONCURRENCY": "4"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lac_batch", "retry", "--results-folder", str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while len(sandbox.events()) < 10 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    sandbox.set_faults(FaultConfig())

    # The next pass: what was in flight is unknown (told), the rest is retried.
    lac_batch.retry_failed(
        options(sandbox), ledger=ledger_path(), now=lambda: later(6), results_folder=tmp_path
    )
    assert max(accepted_per_key(sandbox).values()) == 1, "a row became two events"
    for unknown in lac_batch.unknowns(ledger_path()):
        # Resolved by what the portal (the sandbox) shows, then nothing is left open.
        seen = accepted_per_key(sandbox)[unknown.idempotency_key]
        lac_batch.resolve(
            "accepted" if seen else "not_processed",
            keys=[unknown.idempotency_key],
            ledger=ledger_path(),
        )
    lac_batch.retry_failed(
        options(sandbox), ledger=ledger_path(), now=lambda: later(600), results_folder=tmp_path
    )
    per_key = accepted_per_key(sandbox)
    assert max(per_key.values()) == 1
    states = ledger_states(private_ledger)
    assert len(states) == 36 and {state for state, _ in states.values()} == {"accepted"}
    assert len(per_key) == 36  # nothing lost: every row is one accepted event


def test_run_resends_its_own_row_resolved_not_processed_and_says_so(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text("rate = 300\nsettle_seconds = 0\n", encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    source = tmp_path / "inbox" / "orders.csv"
    source.write_text("\n".join(",".join(row) for row in ROWS[:2]) + "\n", encoding="utf-8")
    os.utime(source, (time.time() - 60, time.time() - 60))
    monkeypatch.chdir(tmp_path)
    env = {**sandbox_env(sandbox), **FAST_FAIL}
    sandbox.set_faults(FaultConfig(p_close_after=1.0))
    first = run_cli("run", "--once", "--config", config, env=env)
    assert first.exit_code == 1, first.output
    sandbox.set_faults(FaultConfig())
    [unknown] = lac_batch.unknowns(ledger_path(), file="orders.csv")
    lac_batch.resolve("not_processed", file="orders.csv", rows=[2], ledger=ledger_path())

    second = run_cli("run", "--once", "--config", config, env=env)
    assert second.exit_code == 0, second.output
    assert "retry pass: 1 failed row retried (orders.csv row 2): accepted 1" in second.stderr
    assert sandbox.received()[unknown.idempotency_key] == 2
    [written] = (tmp_path / "results").glob("retry-*.results.csv")
    assert read_results_csv(written)[0]["status"] == "accepted"
    third = run_cli("run", "--once", "--config", config, env=env)
    assert third.exit_code == 0 and "retry pass" not in third.stderr
    assert sandbox.received()[unknown.idempotency_key] == 2
