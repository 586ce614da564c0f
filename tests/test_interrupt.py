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
