"""Airflow: a DAG that submits one spreadsheet with lac-batch, its retries owned by Airflow.

Trigger it with the file's path (``airflow dags trigger lac_batch_submit --conf '{"path": ...}'``,
or from an upstream DAG or a sensor). Put ``lac_task.py`` in the DAGs folder beside it, and give
the workers ``LAC_LEDGER`` and ``LAC_API_KEY`` (from your secrets backend), and ``LAC_BASE_URL``
off production; or an Airflow Variable ``lac_ledger``.

- Rows that surely failed, or a ledger locked by another run: the task raises, and Airflow
  retries it (``retries``, exponential backoff). Safe because of the ledger: accepted rows are
  skipped, failed ones resent with the same Idempotency-Key.
- Rows left unknown, an unusable file or ledger, a refused key: ``AirflowFailException``, failed
  at once without retries, so a person looks (check unknown rows in the LAC portal).
- Invalid or rejected rows: the task succeeds with a warning, unless ``bad_rows`` is ``fail``.
- It refuses to run without a durable ledger (``lac_task.durable_ledger``).
- ``max_active_runs=1``: one file at a time per DAG, as lac-batch's ledger lock wants anyway.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import lac_task
from airflow.sdk import Param, Variable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

import lac_batch

# What a @task logs to this logger goes to the task's log in the UI.
log = logging.getLogger("airflow.task")


class TryAgain(Exception):
    """Trying again is safe and may help: Airflow retries the task."""


@dag(
    dag_id="lac_batch_submit",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "path": Param(type="string", description="The spreadsheet to submit"),
        "rate": Param(5.0, type="number", description="Requests per second"),
        "max_attempts": Param(5, type="integer", description="lac-batch's tries of one request"),
        "bad_rows": Param("warn", enum=["warn", "fail"], description="Invalid/rejected rows"),
    },
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    tags=["lac-batch"],
)
def lac_batch_submit() -> None:
    @task
    def submit_sheet() -> dict[str, Any]:
        params = get_current_context()["params"]
        try:
            judgement = lac_task.submit(
                params["path"],
                ledger=Variable.get("lac_ledger", default=None),
                settings=lac_batch.Settings(
                    rate=float(params["rate"]), max_attempts=int(params["max_attempts"])
                ),
                bad_rows=params["bad_rows"],
            )
        except lac_task.LedgerNotDurable as error:
            raise AirflowFailException(str(error)) from None
        return lac_task.act_on(
            judgement, fail=AirflowFailException, retry=TryAgain, warn=log.warning, inform=log.info
        )

    submit_sheet()


dag_object = lac_batch_submit()
