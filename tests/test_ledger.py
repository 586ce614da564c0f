"""The ledger file itself: schema, crash recovery, errors, pruning, locking."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import open_ledger

from lac_batch.ledger.lock import RunLock
from lac_batch.ledger.store import SCHEMA_VERSION, Ledger, RequestState, SendingMark
from lac_batch.model.errors import LedgerError, RunLockedError
from lac_batch.model.status import RowResult, Status


def mark(fingerprint: str = "fp-1", run_id: int = 1) -> SendingMark:
    return SendingMark(
        fingerprint, "https://x/portal", "acct", "keyhash", '{"a":1}', 1, 0, "in.csv", 2, run_id
    )


def test_new_ledger_has_the_current_schema_version(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    assert ledger.created
    ledger.close()
    again = Ledger.open(tmp_path / "ledger.sqlite3")
    assert not again.created
    again.close()
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sending_then_outcome_then_rerun_lookup(ledger_location: str) -> None:
    ledger = open_ledger(ledger_location)
    ledger.write_batch([mark()], [])
    assert ledger.record_state("fp-1").state is RequestState.SENDING  # type: ignore[union-attr]
    ledger.write_batch([], [("fp-1", RowResult(2, Status.ACCEPTED, "evt_1", 202, "", 1))])
    record = ledger.record_state("fp-1")
    assert record is not None
    assert (record.state, record.event_id, record.attempts) == (RequestState.ACCEPTED, "evt_1", 1)
    ledger.close()


def test_records_left_sending_by_a_crash_become_unknown(ledger_location: str) -> None:
    ledger = open_ledger(ledger_location)
    ledger.write_batch([mark("fp-1"), mark("fp-2")], [])
    ledger.write_batch([], [("fp-2", RowResult(3, Status.ACCEPTED, "evt_2", 202))])
    ledger.close()  # the process "dies" here with fp-1 still sending
    reopened = open_ledger(ledger_location)
    assert reopened.recover_interrupted() == 1
    record = reopened.record_state("fp-1")
    assert record is not None and record.state is RequestState.UNKNOWN
    assert "may have been processed" in record.error
    reopened.close()


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LedgerError, match="is not a lac-batch ledger"):
        Ledger.open(path)


def test_a_read_that_fails_is_a_ledger_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger.open(path)
    with sqlite3.connect(path) as other:  # another program damages the ledger while it is open
        other.execute("DROP TABLE run_rows")
    try:
        with pytest.raises(
            LedgerError, match=r"ledger.sqlite3: the ledger cannot be used"
        ) as caught:
            ledger.run_rows(1)
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    finally:
        ledger.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LedgerError, match="newer than this lac-batch"):
        Ledger.open(path)


def test_prune_forgets_old_records_but_keeps_sending_ones(ledger_location: str) -> None:
    ledger = open_ledger(ledger_location)
    ledger.write_batch([mark("old"), mark("busy")], [])
    ledger.write_batch([], [("old", RowResult(2, Status.ACCEPTED, "evt", 202))])
    assert ledger.prune(timedelta(0)) == (1, 0)
    assert ledger.record_state("old") is None
    assert ledger.record_state("busy") is not None
    ledger.close()


def test_second_lock_holder_is_refused_with_pid(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with RunLock(path), pytest.raises(RunLockedError, match=r"pid \d+, started at"):
        RunLock(path).acquire()


def test_lock_of_a_killed_process_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    script = (
        "import time; from pathlib import Path; from lac_batch.ledger.lock import RunLock; "
        f"lock = RunLock(Path({str(path)!r})); lock.acquire(); print('held', flush=True); "
        "time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLockedError):
        RunLock(path).acquire()
    holder.kill()
    holder.wait()
    assert Path(str(path) + ".lock").exists()  # the stale lock file is still there
    with RunLock(path) as lock:
        assert lock.holder().pid is not None


def _make_read_only(*paths: Path) -> bool:
    """chmod for ordinary users; root ignores modes, so chattr +i where the system allows it."""
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    if os.geteuid() != 0:
        return True
    done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("chattr") is None, reason="POSIX")
def test_a_read_only_ledger_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "share"
    path = folder / "ledger.sqlite3"
    folder.mkdir()
    Ledger.open(path).close()
    for leftover in folder.glob("ledger.sqlite3-*"):
        leftover.unlink()
    if not _make_read_only(path, folder):
        pytest.skip("cannot make a file read-only for this user here")
    try:
        with pytest.raises(LedgerError, match="the ledger is read-only"):
            Ledger.open(path)
    finally:
        subprocess.run(["chattr", "-i", str(path), str(folder)], capture_output=True, check=False)
        folder.chmod(0o755)
        path.chmod(0o644)
