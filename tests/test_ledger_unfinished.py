"""After the first request leaves, submit_file never raises: a ledger that cannot record the end
of the run (the disk filled up while sending) is in the outcome and the exit code (5), the rows'
results are still written, and the command says so in one paragraph, without a traceback."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import SAMPLES, read_results_csv, run_cli, sandbox_env

import lac_batch
from lac_batch.ledger.store import Ledger
from lac_batch.model.errors import LedgerError
from lac_batch.sandbox import SANDBOX_WRITE_KEY, Sandbox

ROWS = 36  # samples/requests.csv
FAST = ["--rate", "300", "--concurrency", "8"]


def _ledger_full_at_the_end(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """finish_run fails as SQLite does on a full disk, after the rows were sent and recorded."""
    tried: list[int] = []

    def finish_run(self: Ledger, run_id: int, *args: object, **kwargs: object) -> None:
        tried.append(run_id)
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.Error as error:
            raise LedgerError(f"{self.path}: the ledger cannot be used ({error}).") from error

    monkeypatch.setattr(Ledger, "finish_run", finish_run)
    return tried


def test_submit_file_puts_a_ledger_that_cannot_finish_the_run_in_the_outcome(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    ledger = tmp_path / "ledger.sqlite3"
    tried = _ledger_full_at_the_end(monkeypatch)
    options = lac_batch.SubmitOptions(
        base_url=sandbox.base_url,
        api_key=lac_batch.ApiKey(SANDBOX_WRITE_KEY),
        settings=lac_batch.Settings(rate=300, concurrency=8).submit_settings(),
    )

    outcome = lac_batch.submit_file(source, options, ledger=ledger)

    assert tried, "the run never got to its finish"
    assert len(sandbox.events()) == ROWS
    assert outcome.exit_code is lac_batch.ExitCode.RESULTS_NOT_WRITTEN
    assert outcome.counts == {lac_batch.Status.ACCEPTED: ROWS}
    assert outcome.results_path == tmp_path / "requests.results.csv"
    assert {row["status"] for row in read_results_csv(outcome.results_path)} == {"accepted"}
    problem = outcome.ledger_problem
    assert problem is not None and "\n" not in problem
    assert f"{ROWS} rows were sent" in problem and "database or disk is full" in problem
    assert str(outcome.results_path) in problem
    assert outcome.results_problem == ""
    # The requests themselves were recorded as they were sent: a rerun sends none again.
    monkeypatch.undo()
    again = lac_batch.submit_file(source, options, ledger=ledger, results=tmp_path / "again.csv")
    assert again.counts == {lac_batch.Status.SKIPPED: ROWS}
    assert len(sandbox.events()) == ROWS


def test_submit_command_says_the_ledger_could_not_finish_the_run_with_exit_5(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    _ledger_full_at_the_end(monkeypatch)

    outcome = run_cli("submit", source, *FAST, env=sandbox_env(sandbox))

    assert outcome.exit_code == 5, outcome.output
    assert len(sandbox.events()) == ROWS
    results = tmp_path / "requests.results.csv"
    assert f"Results: {results}" in outcome.stdout
    (error,) = [line for line in outcome.stderr.splitlines() if line.startswith("Error:")]
    assert f"{ROWS} rows were sent" in error and str(results) in error
    assert str(private_ledger) in error and "database or disk is full" in error


def test_run_archives_a_file_whose_run_the_ledger_could_not_finish_and_ends_the_pass(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        'rate = 300\nsettle_seconds = 0\nledger = "state/ledger.sqlite3"\n', encoding="utf-8"
    )
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()
    old = time.time() - 60
    for name in ("a.csv", "b.csv"):
        target = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "inbox" / name))
        os.utime(target, (old, old))
        old += 1
    _ledger_full_at_the_end(monkeypatch)

    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))

    assert outcome.exit_code == 5, outcome.output
    assert len(sandbox.events()) == ROWS  # b.csv waits for a writable ledger
    assert sorted(path.name for path in (tmp_path / "inbox").iterdir()) == ["b.csv"]
    assert [path.name for path in (tmp_path / "results").iterdir()] == ["a.results.csv"]
    assert "the ledger could not record the end of the run" in outcome.stderr
