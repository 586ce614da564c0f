"""What the three examples' tests share: a sheet, a sandbox on 127.0.0.1, a durable ledger.

Each example's tests run in that orchestrator's own virtualenv (``make examples-test``), which
holds lac-batch too; ``lac_task`` (beside this file) is importable because pytest puts this
folder on ``sys.path`` for its conftest. The sandbox ignores Idempotency-Key here, so every
request that reaches it is counted and processed: a row sent twice would show as two events.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from lac_batch.sandbox import SANDBOX_WRITE_KEY, FaultConfig, Sandbox, running_sandbox

sys.path.insert(0, str(Path(__file__).parent))

VALID_ROWS = 6
INVALID_ROW_NUMBER = VALID_ROWS + 2
"""The sheet's last row (its header is row 1): no connection_key, so it is invalid."""


@dataclass
class Workplace:
    sheet: Path
    ledger: Path
    """On "persistent storage": a folder outside the temporary folder, that exists."""
    sandbox: Sandbox

    def received(self) -> int:
        """POSTs the sandbox has read, however it answered them."""
        return sum(self.sandbox.received().values())

    def events(self) -> int:
        """Requests the sandbox processed (accepted)."""
        return len(self.sandbox.events())

    def runs(self) -> int:
        """The submit runs the ledger recorded: one per try of the task."""
        with sqlite3.connect(self.ledger) as db:
            return int(db.execute("SELECT count(*) FROM runs").fetchone()[0])

    @contextmanager
    def failing_until(self, count: int) -> Iterator[None]:
        """Answer 503 (surely not processed) until ``count`` requests have arrived, then as
        usual: a first try whose rows all fail, and a later try that goes through."""
        self.sandbox.set_faults(FaultConfig(p_503=1.0))
        done = threading.Event()

        def heal() -> None:
            while not done.wait(0.005):
                if self.received() >= count:
                    self.sandbox.set_faults(FaultConfig())
                    return

        healer = threading.Thread(target=heal, daemon=True)
        healer.start()
        try:
            yield
        finally:
            done.set()
            healer.join(timeout=5)


def write_sheet(path: Path, valid_rows: int = VALID_ROWS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["connection_key", "request_type", "metadata.company_name"])
        for n in range(valid_rows):
            writer.writerow(["bank:nordea", "setup", f"Example company {n + 1} Oy"])
        writer.writerow(["", "setup", "A row without its connection key"])
    return path


@pytest.fixture
def workplace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workplace]:
    if Path(tempfile.gettempdir()).resolve() in tmp_path.resolve().parents:
        pytest.fail("run these tests with --basetemp outside the temporary folder (Makefile)")
    state = tmp_path / "state"
    state.mkdir()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ledger = state / "ledger.sqlite3"
    with running_sandbox(honour_idempotency_key=False) as sandbox:
        monkeypatch.setenv("LAC_LEDGER", str(ledger))
        monkeypatch.setenv("LAC_LEDGER_CREATE", "1")
        monkeypatch.setenv("LAC_API_KEY", SANDBOX_WRITE_KEY)
        monkeypatch.setenv("LAC_BASE_URL", sandbox.base_url)
        # The user's own state folder is never touched (results that cannot go beside the input).
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "user-state"))
        yield Workplace(write_sheet(inbox / "requests.csv"), ledger, sandbox)


@pytest.fixture
def fleeting_folder() -> Iterator[Path]:
    """A folder in the system's temporary folder, as a container's scratch space is."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def without_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAC_LEDGER", raising=False)
    assert "LAC_LEDGER" not in os.environ
