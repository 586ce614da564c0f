"""SIGKILL at random moments, then rerun to completion: nothing lost, nothing sent twice."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLES, read_results_csv, run_cli, sandbox_env

from lac_batch.rows.payload import canonical_json
from lac_batch.rows.validation import read_requests, validate
from lac_batch.sandbox import FaultConfig, Sandbox, running_sandbox

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
    # Every trial on both ledger backends: a SQLite file and a PostgreSQL database.
    pytest.mark.usefixtures("ledger_location"),
]

FINAL = {"accepted", "skipped", "rejected", "failed", "unknown", "not_sent"}


def bodies_by_row(path: Path) -> dict[int, str]:
    report = validate(read_requests(path))
    return {row.row_number: row.body_json or "" for row in report.rows}


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """Odd trials rerun with --resend-unknown, which is safe only where the key is replayed;
    even trials face a server that ignores Idempotency-Key, as the real API may."""
    honour = request.node.callspec.params["trial"] % 2 == 1
    with running_sandbox(honour_idempotency_key=honour) as server:
        yield server


@pytest.mark.parametrize("trial", range(20))
def test_kill_9_then_rerun_accounts_for_every_row(
    tmp_path: Path, sandbox: Sandbox, trial: int
) -> None:
    rng = random.Random(trial)
    sandbox.set_faults(
        FaultConfig(latency_s=0.02, latency_jitter_s=0.05, p_close_after=0.05, seed=trial)
    )
    path = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    env = {**os.environ, **sandbox_env(sandbox)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lac_batch",
            "submit",
            str(path),
            "--rate",
            "40",
            "--concurrency",
            "4",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill once some events exist (or at a random moment before that): mid-flight, mid-commit.
    deadline = time.monotonic() + 30
    wanted = rng.randint(0, 30)
    while len(sandbox.events()) < wanted and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.05))
    process.send_signal(signal.SIGKILL)
    process.wait()

    sandbox.set_faults(FaultConfig())
    resend = ["--resend-unknown"] if trial % 2 else []
    outcome = run_cli("submit", path, "--rate", "300", *resend, env=sandbox_env(sandbox))
    assert outcome.exit_code in (0, 1), outcome.output

    rows = read_results_csv(tmp_path / "requests.results.csv")
    assert [int(row["row"]) for row in rows] == list(range(2, 38))
    assert all(row["status"] in FINAL for row in rows)

    events = sandbox.events()
    per_body = Counter(canonical_json(event.body) for event in events)
    assert max(per_body.values(), default=0) <= 1, "a row became two events"
    accepted_by_sandbox = set(per_body)
    body_of = bodies_by_row(path)
    for row in rows:
        if body_of[int(row["row"])] in accepted_by_sandbox:
            assert row["status"] not in ("failed", "not_sent"), row
    if resend:
        assert {row["status"] for row in rows} <= {"accepted", "skipped"}
