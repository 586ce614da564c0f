"""Two machines, one PostgreSQL ledger: every row is sent once between them.

Each "machine" is a process with its own working folder and its own copy of the file; the
sandbox ignores Idempotency-Key (as an API may), so a row sent twice would be two requests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import HEADER, csv_text, sandbox_env
from pg_server import PgServer

from lac_batch.model.exit_codes import ExitCode
from lac_batch.sandbox import Sandbox, running_sandbox

ROWS = 2000
_WAIT_S = 240


def write_rows(folder: Path, label: str) -> Path:
    folder.mkdir()
    rows = [["bank:nordea", "setup", "", f"{label} row {n}"] for n in range(ROWS)]
    path = folder / "requests.csv"
    path.write_text(csv_text([HEADER, *rows]), encoding="utf-8")
    return path


def start(path: Path, sandbox: Sandbox, ledger: str, account: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **sandbox_env(sandbox), "LAC_LEDGER": ledger, "LAC_ACCOUNT": account}
    return subprocess.Popen(
        [sys.executable, "-m", "lac_batch", "submit", path.name, "--rate", "400"],
        cwd=path.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(*processes: subprocess.Popen[bytes]) -> list[int]:
    codes = []
    for process in processes:
        _, err = process.communicate(timeout=_WAIT_S)
        codes.append(process.returncode)
        assert process.returncode in (ExitCode.OK, ExitCode.LOCKED), err.decode()
    return codes


def test_two_machines_sending_one_file_send_every_row_once(
    tmp_path: Path, postgres: PgServer
) -> None:
    ledger = postgres.new_database()
    first, second = write_rows(tmp_path / "a", "same"), write_rows(tmp_path / "b", "same")
    with running_sandbox(honour_idempotency_key=False) as sandbox:
        codes = finish(
            start(first, sandbox, ledger, "acme"), start(second, sandbox, ledger, "acme")
        )
        assert ExitCode.OK in codes
        received = sandbox.received()
        assert len(received) == ROWS
        assert set(received.values()) == {1}
        # Both again: everything is in the ledger, nothing is sent.
        finish(start(first, sandbox, ledger, "acme"), start(second, sandbox, ledger, "acme"))
        assert sandbox.received() == received


def test_two_accounts_on_one_ledger_send_at_the_same_time(
    tmp_path: Path, postgres: PgServer
) -> None:
    ledger = postgres.new_database()
    acme, globex = write_rows(tmp_path / "a", "acme"), write_rows(tmp_path / "b", "globex")
    with running_sandbox(honour_idempotency_key=False) as sandbox:
        codes = finish(
            start(acme, sandbox, ledger, "acme"), start(globex, sandbox, ledger, "globex")
        )
        assert codes == [ExitCode.OK, ExitCode.OK]
        received = sandbox.received()
        assert len(received) == 2 * ROWS and set(received.values()) == {1}
        # Neither waited for the other: their requests arrived interleaved.
        notes = [event.body["note"].split()[0] for event in sandbox.events()]
        assert notes.index("globex") < len(notes) - 1 - notes[::-1].index("acme")
        assert notes.index("acme") < len(notes) - 1 - notes[::-1].index("globex")
