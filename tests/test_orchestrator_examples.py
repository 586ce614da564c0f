"""examples/lac_task.py, the part the Airflow, Dagster and Prefect examples share: the ledger it
insists on, and the verdict it gives each outcome, against the sandbox on 127.0.0.1.

The examples themselves run in their orchestrators' virtualenvs (``make examples-test``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import load_script

from lac_batch.ledger.lock import RunLock
from lac_batch.sandbox import SANDBOX_WRITE_KEY, FaultConfig, Sandbox
from lac_batch.settings.config import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


lac_task = load_script(EXAMPLES / "lac_task.py")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on "persistent storage": the system's temporary folder is elsewhere."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    folder = tmp_path / "state"
    folder.mkdir()
    return folder


def test_a_ledger_must_be_named() -> None:
    with pytest.raises(lac_task.LedgerNotDurable, match="no ledger named: set LAC_LEDGER"):
        lac_task.durable_ledger(None, environ={})


def test_a_postgresql_url_passes_through_as_it_is() -> None:
    url = "postgresql://lac@db.example/lac?sslmode=verify-full"
    assert lac_task.durable_ledger(None, environ={"LAC_LEDGER": url}) == url


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("relative", "is a relative path"),
        ("unmounted", "does not exist on this worker: is the persistent volume mounted?"),
        ("temporary", "is not on persistent storage"),
        ("new", "does not exist. If this is the very first run, set LAC_LEDGER_CREATE=1"),
    ],
)
def test_a_ledger_that_would_not_outlive_the_worker_is_refused(
    state: Path, where: str, said: str
) -> None:
    named = {
        "relative": "state/ledger.sqlite3",
        "unmounted": str(state / "volume" / "ledger.sqlite3"),
        "temporary": str(Path(tempfile.gettempdir()) / "ledger.sqlite3"),
        "new": str(state / "ledger.sqlite3"),
    }[where]
    with pytest.raises(lac_task.LedgerNotDurable, match=said):
        lac_task.durable_ledger(named, environ={})


def test_a_new_ledger_is_accepted_on_the_first_run_only_when_asked(state: Path) -> None:
    path = state / "ledger.sqlite3"
    assert lac_task.durable_ledger(
        None, environ={"LAC_LEDGER": str(path), "LAC_LEDGER_CREATE": "1"}
    )
    path.touch()
    assert lac_task.durable_ledger(str(path), environ={}) == path


def _submit(sheet: Path, sandbox: Sandbox, ledger: Path, **settings: Any) -> Any:
    return lac_task.submit(
        sheet,
        ledger=ledger,
        base_url=sandbox.base_url,
        api_key=SANDBOX_WRITE_KEY,
        settings=Settings(rate=100, **settings),
        create_ledger=True,
    )


def _sheet(folder: Path, rows: int = 3, invalid: bool = False) -> Path:
    lines = ["connection_key,request_type,metadata.company_name"]
    lines += [f"bank:nordea,setup,Company {n} Oy" for n in range(rows)]
    if invalid:
        lines.append(",setup,No connection key Oy")
    path = folder / "requests.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_row_accepted_succeeds_and_a_second_run_sends_nothing(
    state: Path, sandbox: Sandbox
) -> None:
    sheet = _sheet(state)
    first = _submit(sheet, sandbox, state / "ledger.sqlite3")
    again = _submit(sheet, sandbox, state / "ledger.sqlite3")

    assert first.verdict is lac_task.Verdict.SUCCEEDED
    assert again.verdict is lac_task.Verdict.SUCCEEDED
    assert again.counts == {"skipped": 3}
    assert sum(sandbox.received().values()) == 3


def test_invalid_rows_succeed_with_a_warning_or_fail_as_chosen(
    state: Path, sandbox: Sandbox
) -> None:
    sheet = _sheet(state, invalid=True)
    judged = _submit(sheet, sandbox, state / "ledger.sqlite3")
    strict = lac_task.submit(
        sheet,
        ledger=state / "ledger.sqlite3",
        base_url=sandbox.base_url,
        api_key=SANDBOX_WRITE_KEY,
        bad_rows="fail",
    )

    assert judged.verdict is lac_task.Verdict.SUCCEEDED_WITH_BAD_ROWS
    assert judged.bad_rows == [5]
    assert strict.verdict is lac_task.Verdict.FAIL
    assert "1 rows are invalid or rejected (rows 5)" in strict.summary


def test_unknown_rows_need_a_person(state: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(p_close_after=1.0))

    judged = _submit(_sheet(state), sandbox, state / "ledger.sqlite3")

    assert judged.verdict is lac_task.Verdict.FAIL
    assert judged.unknown_rows == [2, 3, 4]
    assert "Check them in the LAC portal" in judged.summary


def test_failed_rows_ask_for_a_retry(state: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(p_503=1.0))

    judged = _submit(_sheet(state), sandbox, state / "ledger.sqlite3", max_attempts=1)

    assert judged.verdict is lac_task.Verdict.RETRY
    assert judged.failed_rows == [2, 3, 4]


def test_a_ledger_locked_by_another_run_asks_for_a_retry(state: Path, sandbox: Sandbox) -> None:
    ledger = state / "ledger.sqlite3"
    with RunLock(ledger):
        judged = _submit(_sheet(state), sandbox, ledger)

    assert judged.verdict is lac_task.Verdict.RETRY
    assert judged.exit_code == 4
    assert sum(sandbox.received().values()) == 0


def test_nothing_is_read_or_sent_without_a_durable_ledger(
    state: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAC_LEDGER")
    with pytest.raises(lac_task.LedgerNotDurable):
        lac_task.submit(_sheet(state), base_url=sandbox.base_url, api_key=SANDBOX_WRITE_KEY)
    assert sum(sandbox.received().values()) == 0


def test_a_refused_key_needs_a_person(state: Path, sandbox: Sandbox) -> None:
    sandbox.revoke_key(SANDBOX_WRITE_KEY)

    judged = _submit(_sheet(state), sandbox, state / "ledger.sqlite3")

    assert judged.verdict is lac_task.Verdict.FAIL
    assert judged.exit_code == 3
    assert judged.summary.startswith("the API key was refused (401 or 403)")
