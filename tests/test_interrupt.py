"""Ctrl-C or SIGTERM mid-run: in-flight requests finish, the rest are not_sent, results written."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import SAMPLES, read_results_csv, sandbox_env

from lac_batch.sandbox import FaultConfig, Sandbox

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def start_submit(path: Path, sandbox: Sandbox) -> subprocess.Popen[str]:
    env = {**os.environ, **sandbox_env(sandbox)}
    return subprocess.Popen(
        [sys.executable, "-m", "lac_batch", "submit", str(path), "--rate", "8"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_events(sandbox: Sandbox, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(sandbox.events()) < count:
        assert time.monotonic() < deadline, "the submit never started sending"
        time.sleep(0.02)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_writes_every_row_and_exits_130(
    tmp_path: Path, sandbox: Sandbox, signal_number: int
) -> None:
    sandbox.set_faults(FaultConfig(latency_s=0.2))
    path = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    process = start_submit(path, sandbox)
    wait_for_events(sandbox, 3)
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "Interrupted" in stderr
    rows = read_results_csv(tmp_path / "requests.results.csv")
    assert [int(row["row"]) for row in rows] == list(range(2, 38))
    counts = Counter(row["status"] for row in rows)
    assert set(counts) == {"accepted", "not_sent"}
    time.sleep(0.3)  # let the sandbox finish logging anything that was in flight
    assert counts["accepted"] == len(sandbox.events())


BIG_FILE_ROWS = 100_000
"""Enough rows that reading, validating and planning take seconds, so a signal sent as soon as
the job holds the ledger's lock lands before any request could leave."""


def write_big_csv(path: Path) -> Path:
    lines = ["connection_key,request_type,note"]
    lines += [f"bank:nordea,setup,row {number}" for number in range(BIG_FILE_ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


def signal_once_locked(
    command: list[str], lock: Path, sandbox: Sandbox, signal_number: int
) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``lac-batch COMMAND``, signal it as soon as it holds the ledger's lock (it is then
    reading the file), and wait (at most 20 s) for it to end."""
    env = {**os.environ, **sandbox_env(sandbox)}
    process = subprocess.Popen(
        [sys.executable, "-m", "lac_batch", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not lock.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the job never took the ledger's lock"
            time.sleep(0.01)
        process.send_signal(signal_number)
        try:
            stdout, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"still running 20 s after the signal, having sent {len(sandbox.events())} requests"
            )
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process, stdout, stderr


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_reading_sends_nothing_and_leaves_the_file_in_the_inbox(
    tmp_path: Path, sandbox: Sandbox, signal_number: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAC_LEDGER")  # the config below names the ledger
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        'rate = 1000\nconcurrency = 8\nsettle_seconds = 0\nledger = "state/ledger.sqlite3"\n',
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()  # a named ledger's folder must exist
    big = write_big_csv(tmp_path / "inbox" / "big.csv")
    process, stdout, stderr = signal_once_locked(
        ["run", "--once", "--config", str(config)],
        tmp_path / "state" / "ledger.sqlite3.lock",
        sandbox,
        signal_number,
    )
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert big.exists()
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
    time.sleep(0.3)  # anything that was sent has reached the sandbox by now
    assert sandbox.events() == []


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_submit_interrupted_while_reading_sends_nothing_and_exits_130(
    tmp_path: Path, sandbox: Sandbox, signal_number: int, private_ledger: Path
) -> None:
    big = write_big_csv(tmp_path / "big.csv")
    process, stdout, stderr = signal_once_locked(
        ["submit", str(big), "--rate", "1000", "--concurrency", "8"],
        Path(str(private_ledger) + ".lock"),
        sandbox,
        signal_number,
    )
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "nothing was sent" in stderr
    time.sleep(0.3)
    assert sandbox.events() == []
