"""A results file that cannot be written after the rows were sent: exit 5, nothing lost.

The failures are real ones where the test can make them (a results folder that turned into a
file, a fallback folder under a regular file: even root cannot write there), and an injected
``ENOSPC`` at the write boundary for a full disk.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SAMPLES, read_results_csv, run_cli, sandbox_env

import lac_batch.files.results
import lac_batch.jobs.submit
from lac_batch.files.results import results_fallback_folder
from lac_batch.ledger.store import Ledger
from lac_batch.model.exit_codes import ExitCode, most_severe
from lac_batch.sandbox import Sandbox

FAST = ["--rate", "300", "--concurrency", "8"]
ROWS = 36  # samples/requests.csv


def _disk_full_except_under(monkeypatch: pytest.MonkeyPatch, writable: Path | None) -> list[Path]:
    """Every results write fails with ENOSPC, but under ``writable``; returns the paths tried."""
    real = lac_batch.files.results._write_atomically
    tried: list[Path] = []

    def write(path: Path, *args: object) -> None:
        tried.append(path)
        if writable is None or not path.is_relative_to(writable):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(lac_batch.files.results, "_write_atomically", write)
    return tried


def _results_folder_gone_after_sending(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Once the rows are sent, ``folder`` becomes a regular file: a real OSError on writing."""
    real: Callable[..., object] = lac_batch.jobs.submit.write_results

    def write(*args: object, **options: object) -> object:
        shutil.rmtree(folder)
        folder.write_text("not a folder any more", encoding="utf-8")
        return real(*args, **options)

    monkeypatch.setattr(lac_batch.jobs.submit, "write_results", write)


def _fallback_folder_unwritable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker / "state"))


def _finished_runs(ledger_path: Path) -> list[tuple[int | None, str]]:
    ledger = Ledger.open(ledger_path)
    try:
        return [(run.exit_code, run.results_path) for run in ledger.runs() if run.ended_at]
    finally:
        ledger.close()


def test_exit_5_ranks_below_130_and_3_and_above_2_4_1() -> None:
    five = ExitCode.RESULTS_NOT_WRITTEN
    assert int(five) == 5
    assert most_severe(ExitCode.ROWS_NOT_OK, ExitCode.UNUSABLE, ExitCode.LOCKED, five) is five
    assert most_severe(five, ExitCode.AUTH_REFUSED) is ExitCode.AUTH_REFUSED
    assert most_severe(five, ExitCode.INTERRUPTED) is ExitCode.INTERRUPTED


def test_full_disk_after_sending_puts_results_in_the_fallback_folder_with_exit_5(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path
) -> None:
    source = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    tried = _disk_full_except_under(monkeypatch := pytest.MonkeyPatch(), results_fallback_folder())
    try:
        outcome = run_cli("submit", source, *FAST, env=sandbox_env(sandbox))
    finally:
        monkeypatch.undo()
    assert outcome.exit_code == 5, outcome.output
    assert len(sandbox.events()) == ROWS
    (fallback,) = results_fallback_folder().iterdir()
    assert tried[-1] == fallback
    assert {row["status"] for row in read_results_csv(fallback)} == {"accepted"}
    error = next(line for line in outcome.stderr.splitlines() if line.startswith("Error:"))
    assert f"{ROWS} rows were sent" in error and str(fallback) in error
    assert "No space left on device" in error and "report --file" in error
    assert f"Results: {fallback}" in outcome.stdout
    assert not source.with_name("requests.results.csv").exists()
    assert _finished_runs(private_ledger) == [(5, str(fallback))]


def test_results_nowhere_writable_exits_5_and_report_rebuilds_them(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    source = Path(shutil.copy(SAMPLES / "requests.csv", folder / "requests.csv"))
    kept = tmp_path / "requests.csv"
    shutil.copy(source, kept)
    _results_folder_gone_after_sending(monkeypatch, folder)
    _fallback_folder_unwritable(monkeypatch, tmp_path)

    outcome = run_cli("submit", source, *FAST, env=sandbox_env(sandbox))
    assert outcome.exit_code == 5, outcome.output
    assert "Traceback" not in outcome.output and "Results:" not in outcome.stdout
    (error,) = [line for line in outcome.stderr.splitlines() if line.startswith("Error:")]
    assert f"{ROWS} rows were sent" in error and str(private_ledger) in error
    assert f"lac-batch report --file {source} --results PATH" in error
    assert "nothing was sent" not in error.lower()
    assert _finished_runs(private_ledger) == [(5, "")]

    rebuilt = tmp_path / "rebuilt.csv"
    report = run_cli("report", "--file", kept, "--results", rebuilt)
    assert report.exit_code == 0, report.output
    rows = read_results_csv(rebuilt)
    assert len(rows) == ROWS and {row["status"] for row in rows} == {"accepted"}
    assert sorted(row["event_id"] for row in rows) == sorted(e.event_id for e in sandbox.events())


def _run_setup(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        'rate = 300\nsettle_seconds = 0\nledger = "state/ledger.sqlite3"\n', encoding="utf-8"
    )
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()  # a named ledger's folder must exist
    target = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "inbox" / "orders.csv"))
    old = time.time() - 60
    os.utime(target, (old, old))
    return config, target


def test_run_keeps_the_input_until_its_results_exist_and_the_next_pass_rebuilds_them(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAC_LEDGER")
    config, target = _run_setup(tmp_path)
    failing = pytest.MonkeyPatch()
    _disk_full_except_under(failing, None)
    try:
        first = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    finally:
        failing.undo()
    assert first.exit_code == 5, first.output
    assert target.exists() and list((tmp_path / "archive").iterdir()) == []
    assert list((tmp_path / "results").iterdir()) == []
    assert "stays in the inbox" in first.stderr and f"{ROWS} rows were sent" in first.stderr
    assert _finished_runs(tmp_path / "state" / "ledger.sqlite3") == [(5, "")]

    second = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    assert second.exit_code == 0, second.output
    assert not target.exists() and len(list((tmp_path / "archive").iterdir())) == 1
    rows = read_results_csv(tmp_path / "results" / "orders.results.csv")
    assert len(rows) == ROWS and {row["status"] for row in rows} == {"accepted"}
    assert len(sandbox.events()) == ROWS  # rebuilt from the ledger: nothing sent again
    assert "written from the ledger" in second.stderr


def test_run_archives_the_input_once_its_results_are_in_the_fallback_folder(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAC_LEDGER")
    config, target = _run_setup(tmp_path)
    _disk_full_except_under(monkeypatch, results_fallback_folder())
    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    assert outcome.exit_code == 5, outcome.output
    (fallback,) = results_fallback_folder().iterdir()
    assert len(read_results_csv(fallback)) == ROWS
    assert not target.exists() and len(list((tmp_path / "archive").iterdir())) == 1
    assert str(fallback) in outcome.stderr
