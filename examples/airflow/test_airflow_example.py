"""The Airflow example for real: ``dag.test()`` runs the DAG in this process, with Airflow's
metadata in a SQLite database in a temporary AIRFLOW_HOME (migrated by ``airflow db migrate``),
no scheduler, no web server, usage data collection off, against the sandbox on 127.0.0.1."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

# Airflow reads its configuration when it is imported: its home and database are set first.
_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ.update(
    AIRFLOW_HOME=str(_HOME),
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{_HOME / 'airflow.db'}",
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(Path(__file__).parent),
    AIRFLOW__USAGE_DATA_COLLECTION__ENABLED="False",
    SCARF_ANALYTICS="false",
    DO_NOT_TRACK="1",
)
subprocess.run(
    [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
    check=True,
    capture_output=True,
    timeout=600,
)

import lac_batch_dag  # noqa: E402
import pytest  # noqa: E402
from airflow.utils.state import DagRunState  # noqa: E402
from conftest import INVALID_ROW_NUMBER, VALID_ROWS, Workplace, without_ledger  # noqa: E402

from lac_batch.sandbox import FaultConfig  # noqa: E402

DAG = lac_batch_dag.dag_object


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's retries, waiting half a second instead of minutes."""
    submit = DAG.get_task("submit_sheet")
    monkeypatch.setattr(submit, "retry_delay", timedelta(seconds=0.5))
    monkeypatch.setattr(submit, "retry_exponential_backoff", False)


@pytest.fixture
def told(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """What the task logged: under dag.test() Airflow prints a task's log and its error on
    standard output, and passes log records to Python's logging too."""

    def everything() -> str:
        captured = capfd.readouterr()
        return captured.out + captured.err + caplog.text

    return everything


def run_dag(workplace: Workplace, **conf: Any) -> Any:
    return DAG.test(run_conf={"path": str(workplace.sheet), "rate": 50, **conf})


def test_the_dag_sends_each_row_once_and_a_second_run_sends_nothing(
    workplace: Workplace, told: Callable[[], str]
) -> None:
    first = run_dag(workplace)

    assert first.state == DagRunState.SUCCESS
    assert workplace.events() == workplace.received() == VALID_ROWS
    assert f"1 rows are invalid or rejected (rows {INVALID_ROW_NUMBER})" in told()
    again = run_dag(workplace)
    assert again.state == DagRunState.SUCCESS
    assert workplace.received() == VALID_ROWS
    assert workplace.runs() == 2


def test_unknown_rows_fail_the_task_loudly_without_a_retry(
    workplace: Workplace, told: Callable[[], str]
) -> None:
    workplace.sandbox.set_faults(FaultConfig(p_close_after=1.0))

    run = run_dag(workplace)

    assert run.state == DagRunState.FAILED
    assert "6 rows are unknown" in told()
    assert workplace.runs() == 1  # Airflow did not try again


def test_failed_rows_are_retried_by_airflow_and_each_row_is_processed_once(
    workplace: Workplace,
) -> None:
    with workplace.failing_until(VALID_ROWS):
        run = run_dag(workplace, max_attempts=1)

    assert run.state == DagRunState.SUCCESS
    assert workplace.runs() == 2  # the first try's rows failed; Airflow's retry sent them
    keys = [event.idempotency_key for event in workplace.sandbox.events()]
    assert len(keys) == len(set(keys)) == VALID_ROWS


def test_it_refuses_to_run_without_a_durable_ledger(
    workplace: Workplace,
    monkeypatch: pytest.MonkeyPatch,
    fleeting_folder: Path,
    told: Callable[[], str],
) -> None:
    without_ledger(monkeypatch)
    unnamed = run_dag(workplace)
    monkeypatch.setenv("AIRFLOW_VAR_LAC_LEDGER", str(fleeting_folder / "ledger.sqlite3"))
    in_temp = run_dag(workplace)

    assert unnamed.state == in_temp.state == DagRunState.FAILED
    logged = told()
    assert "no ledger named" in logged
    assert "not on persistent storage" in logged
    assert workplace.received() == 0
