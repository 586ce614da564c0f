"""Reruns against the ledger, through the CLI and the sandbox: nothing sent twice unasked."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from conftest import HEADER, SAMPLES, csv_text, read_results_csv, run_cli, sandbox_env

from lac_batch.ledger.lock import RunLock
from lac_batch.sandbox import FaultConfig, Sandbox

# Every rerun rule on both ledger backends (a SQLite file, a PostgreSQL database), except what
# is about the SQLite file itself.
pytestmark = pytest.mark.usefixtures("ledger_location")

FAST = ["--rate", "300", "--concurrency", "8"]


def sample(tmp_path: Path) -> Path:
    return Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))


def submit(
    path: Path, sandbox: Sandbox, *extra: str | Path
) -> tuple[int, str, list[dict[str, str]]]:
    outcome = run_cli("submit", path, *FAST, *extra, env=sandbox_env(sandbox))
    # A results file that records sent rows is kept: each run's results get a name of their own.
    results = Path(outcome.stdout.rsplit("Results: ", 1)[1].strip())
    return outcome.exit_code, outcome.output, read_results_csv(results)


def statuses(rows: list[dict[str, str]]) -> Counter[str]:
    return Counter(row["status"] for row in rows)


def test_rerun_skips_accepted_rows_with_their_event_ids(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    _, _, first = submit(path, sandbox)
    code, _, second = submit(path, sandbox)
    assert code == 0
    assert statuses(second) == {"skipped": 36}
    assert [row["event_id"] for row in second] == [row["event_id"] for row in first]
    assert len(sandbox.events()) == 36


def test_rerun_of_the_results_file_also_skips(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    submit(path, sandbox)
    results = tmp_path / "requests.results.csv"
    code = run_cli("submit", results, *FAST, env=sandbox_env(sandbox)).exit_code
    assert code == 0
    assert statuses(read_results_csv(tmp_path / "requests.results.2.csv")) == {"skipped": 36}
    assert len(sandbox.events()) == 36


def test_failed_rows_are_sent_again_with_the_same_key(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(p_503=1.0))
    path = sample(tmp_path)
    code, _, first = submit(path, sandbox, "--max-attempts", "1")
    assert (code, statuses(first)) == (1, {"failed": 36})
    sandbox.set_faults(FaultConfig())
    code, _, second = submit(path, sandbox)
    assert (code, statuses(second)) == (0, {"accepted": 36})
    assert len(sandbox.events()) == 36


def test_rejected_rows_are_sent_again(tmp_path: Path, sandbox: Sandbox) -> None:
    path = tmp_path / "in.csv"
    path.write_text(csv_text([HEADER, ["bank", "setup", "other-company", ""]]))
    for _ in range(2):
        code, _, rows = submit(path, sandbox)
        assert (code, rows[0]["status"], rows[0]["http_status"]) == (1, "rejected", "422")
        assert rows[0]["attempts"] == "1"


@pytest.mark.honours_idempotency_key  # --resend-unknown relies on the server replaying the key
def test_unknown_rows_are_held_until_resend_unknown(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(p_close_after=1.0))
    path = sample(tmp_path)
    _, _, first = submit(path, sandbox)
    assert statuses(first) == {"unknown": 36}
    sandbox.set_faults(FaultConfig())
    code, _, held = submit(path, sandbox)
    assert (code, statuses(held)) == (1, {"unknown": 36})
    assert "--resend-unknown" in held[0]["error"]
    code, _, resent = submit(path, sandbox, "--resend-unknown")
    assert (code, statuses(resent)) == (0, {"accepted": 36})
    events = sandbox.events()
    assert len(events) == 36  # the resends replayed the first events, none is new
    assert sorted(row["event_id"] for row in resent) == sorted(e.event_id for e in events)


def test_force_sends_everything_again_and_says_so(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    submit(path, sandbox)
    code, output, forced = submit(path, sandbox, "--force")
    assert (code, statuses(forced)) == (0, {"accepted": 36})
    assert "36 rows were sent again because of --force" in output
    assert forced[0]["error"].startswith("sent again with --force (earlier: accepted, evt_")
    assert len(sandbox.events()) == 72
    assert len({event.idempotency_key for event in sandbox.events()}) == 72


def test_another_account_sends_again_but_says_so(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    submit(path, sandbox, "--account", "office-a")
    code, output, second = submit(path, sandbox, "--account", "office-b")
    assert (code, statuses(second)) == (0, {"accepted": 36})
    assert "accepted on" in second[0]["error"] and "under another account" in second[0]["error"]
    assert "36 rows had already been accepted under another account" in output
    code, _, third = submit(path, sandbox, "--account", "office-a")
    assert statuses(third) == {"skipped": 36}


@pytest.mark.sqlite_only
def test_a_second_run_on_the_same_ledger_exits_4(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path
) -> None:
    path = sample(tmp_path)
    with RunLock(private_ledger):
        outcome = run_cli("submit", path, *FAST, env=sandbox_env(sandbox))
    assert outcome.exit_code == 4
    assert "another run is in progress (pid" in outcome.stderr
    assert sandbox.events() == []
    assert not (tmp_path / "requests.results.csv").exists()


@pytest.mark.sqlite_only
def test_corrupt_ledger_is_exit_2(tmp_path: Path, sandbox: Sandbox, private_ledger: Path) -> None:
    private_ledger.parent.mkdir(parents=True, exist_ok=True)
    private_ledger.write_bytes(b"\x00garbage" * 1000)
    outcome = run_cli("submit", sample(tmp_path), *FAST, env=sandbox_env(sandbox))
    assert outcome.exit_code == 2
    assert "is not a lac-batch ledger" in outcome.stderr
    assert sandbox.events() == []


@pytest.mark.sqlite_only
def test_sandbox_mode_never_touches_the_real_ledger(tmp_path: Path, private_ledger: Path) -> None:
    path = sample(tmp_path)
    for _ in range(2):
        outcome = run_cli("submit", path, "--sandbox", "--rate", "300")
        assert outcome.exit_code == 0
        assert "accepted 36" in outcome.stdout
    assert not private_ledger.exists()


def test_report_rebuilds_the_results_file_the_run_wrote(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(p_close_after=0.2, seed=2))
    path = Path(shutil.copy(SAMPLES / "requests-with-errors.csv", tmp_path / "mixed.csv"))
    submit(path, sandbox)
    written = (tmp_path / "mixed.results.csv").read_bytes()
    (tmp_path / "mixed.results.csv").unlink()
    outcome = run_cli("report", "--file", path)
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "mixed.results.csv").read_bytes() == written


def test_report_lists_runs(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    submit(path, sandbox)
    submit(path, sandbox)
    outcome = run_cli("report", "--runs")
    lines = outcome.stdout.splitlines()
    assert len(lines) == 2
    assert "skipped 36, exit 0" in lines[0] and "accepted 36, exit 0" in lines[1]


def test_prune_makes_the_ledger_forget(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    submit(path, sandbox)
    outcome = run_cli("ledger", "prune", "--older-than", "0h")
    assert outcome.exit_code == 0
    assert "Deleted 36 request records and 1 run older" in outcome.stdout
    _, _, again = submit(path, sandbox)
    assert statuses(again) == {"accepted": 36}


def test_rows_a_refused_key_never_sent_are_sent_by_the_next_run(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    path = sample(tmp_path)
    refused = run_cli("submit", path, *FAST, env=sandbox_env(sandbox, "lac_sk_not_a_key_0000"))
    assert refused.exit_code == 3
    # Marks made ahead for rows that never left were undone: nothing is held as unknown.
    code, output, rows = submit(path, sandbox)
    assert (code, statuses(rows)) == (0, {"accepted": 36}), output
    assert "were being sent when an earlier run stopped" not in output


@pytest.mark.sqlite_only
def test_ledger_counts_every_attempt_of_a_retried_request(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path
) -> None:
    import sqlite3

    sandbox.set_faults(FaultConfig(p_503=1.0))
    path = sample(tmp_path)
    submit(path, sandbox, "--max-attempts", "2")
    sandbox.set_faults(FaultConfig())
    submit(path, sandbox)
    with sqlite3.connect(private_ledger) as db:
        states = db.execute("SELECT state, attempts FROM requests").fetchall()
    assert len(states) == 36
    assert set(states) == {("accepted", 3)}


@pytest.mark.sqlite_only
def test_report_finds_the_ledger_named_in_the_config_file(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(sample(tmp_path), sandbox)
    monkeypatch.delenv("LAC_LEDGER")
    config = tmp_path / "lac-batch.toml"
    config.write_text(f"ledger = {str(private_ledger)!r}\n")
    outcome = run_cli("report", "--runs", "--config", config)
    assert outcome.exit_code == 0, outcome.output
    assert "accepted 36, exit 0" in outcome.stdout
