"""The Prefect example for real: flows run against a temporary local Prefect server (its database
in a temporary PREFECT_HOME, analytics off) and the sandbox on 127.0.0.1."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Prefect reads its settings when it is imported: its home and telemetry are set first.
_HOME = tempfile.mkdtemp(prefix="prefect-home-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ.update(
    PREFECT_HOME=_HOME,
    PREFECT_SERVER_ANALYTICS_ENABLED="false",
    DO_NOT_TRACK="1",
    PREFECT_LOGGING_TO_API_ENABLED="false",
)
os.environ.pop("PREFECT_API_URL", None)

import lac_batch_flow  # noqa: E402
import pytest  # noqa: E402
from conftest import INVALID_ROW_NUMBER, VALID_ROWS, Workplace, without_ledger  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from lac_batch.sandbox import FaultConfig  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def prefect_server() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's retries, waiting half a second instead of minutes."""
    quick = lac_batch_flow.submit_sheet.with_options(retry_delay_seconds=0.5)
    monkeypatch.setattr(lac_batch_flow, "submit_sheet", quick)


def run_flow(workplace: Workplace, **parameters: Any) -> Any:
    return lac_batch_flow.lac_batch_submit(
        str(workplace.sheet), rate=50, return_state=True, **parameters
    )


def test_the_flow_sends_each_row_once_and_a_second_run_sends_nothing(
    workplace: Workplace,
) -> None:
    first = run_flow(workplace)

    assert first.is_completed()
    assert first.result()["bad_rows"] == [INVALID_ROW_NUMBER]
    assert workplace.events() == workplace.received() == VALID_ROWS
    again = run_flow(workplace)
    assert again.is_completed()
    assert again.result()["counts"]["skipped"] == VALID_ROWS
    assert workplace.received() == VALID_ROWS


def test_bad_rows_fail_the_flow_when_asked(workplace: Workplace) -> None:
    state = run_flow(workplace, bad_rows="fail")

    assert state.is_failed()
    assert workplace.runs() == 1


def test_unknown_rows_fail_the_flow_loudly_without_a_retry(workplace: Workplace) -> None:
    workplace.sandbox.set_faults(FaultConfig(p_close_after=1.0))

    state = run_flow(workplace)

    assert state.is_failed()
    with pytest.raises(lac_batch_flow.NeedsAPerson, match="6 rows are unknown"):
        state.result()
    assert workplace.runs() == 1  # Prefect did not try again


def test_failed_rows_are_retried_by_prefect_and_each_row_is_processed_once(
    workplace: Workplace,
) -> None:
    with workplace.failing_until(VALID_ROWS):
        state = run_flow(workplace, max_attempts=1)

    assert state.is_completed()
    assert workplace.runs() == 2  # the first try's rows failed; Prefect's retry sent them
    keys = [event.idempotency_key for event in workplace.sandbox.events()]
    assert len(keys) == len(set(keys)) == VALID_ROWS


def test_it_refuses_to_run_without_a_durable_ledger(
    workplace: Workplace, monkeypatch: pytest.MonkeyPatch, fleeting_folder: Path
) -> None:
    without_ledger(monkeypatch)

    unnamed = run_flow(workplace)
    in_temp = run_flow(workplace, ledger=str(fleeting_folder / "ledger.sqlite3"))

    with pytest.raises(lac_batch_flow.NeedsAPerson, match="no ledger named"):
        unnamed.result()
    with pytest.raises(lac_batch_flow.NeedsAPerson, match="not on persistent storage"):
        in_temp.result()
    assert workplace.received() == 0
