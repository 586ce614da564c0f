"""Prefect: a flow that submits one spreadsheet with lac-batch, its retries owned by Prefect.

- Rows that surely failed, or a ledger locked by another run, raise :class:`TryAgain`; the
  task's ``retry_condition_fn`` retries only that (the ledger makes a retry safe: accepted rows
  are skipped, failed ones resent with the same Idempotency-Key).
- Rows left unknown, an unusable file or ledger, a refused key raise :class:`NeedsAPerson`: the
  flow run fails at once, without retries, so a person looks (check unknown rows in the LAC
  portal).
- Invalid or rejected rows: the flow completes with a warning in its log, unless
  ``bad_rows="fail"``.
- It refuses to run without a durable ledger (``lac_task.durable_ledger``).

Run it with ``python lac_batch_flow.py FILE`` or deploy ``lac_batch_submit`` (``lac_task.py``
beside it); set ``LAC_LEDGER`` and ``LAC_API_KEY`` (a Secret block's value), and ``LAC_BASE_URL``
off production.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

import lac_task
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task

import lac_batch


class TryAgain(Exception):
    """Trying again is safe and may help."""


class NeedsAPerson(Exception):
    """Trying again would not help (or would hide something): a person must look."""


def retry_when_safe(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    try:
        state.result()
    except TryAgain:
        return True
    except Exception:
        return False
    return False


@task(
    retries=3,
    retry_delay_seconds=[60, 300, 900],
    retry_condition_fn=retry_when_safe,
    # Each try must ask the ledger anew, never be answered from a cache.
    cache_policy=NO_CACHE,
)
def submit_sheet(
    path: str,
    ledger: str | None = None,
    base_url: str | None = None,
    rate: float = 5.0,
    max_attempts: int = 5,
    bad_rows: Literal["warn", "fail"] = "warn",
) -> dict[str, object]:
    logger = get_run_logger()
    try:
        judgement = lac_task.submit(
            path,
            ledger=ledger,
            base_url=base_url,
            settings=lac_batch.Settings(rate=rate, max_attempts=max_attempts),
            bad_rows=bad_rows,
        )
    except lac_task.LedgerNotDurable as error:
        raise NeedsAPerson(str(error)) from None
    return lac_task.act_on(
        judgement, fail=NeedsAPerson, retry=TryAgain, warn=logger.warning, inform=logger.info
    )


@flow(name="lac-batch-submit")
def lac_batch_submit(
    path: str,
    ledger: str | None = None,
    base_url: str | None = None,
    rate: float = 5.0,
    max_attempts: int = 5,
    bad_rows: Literal["warn", "fail"] = "warn",
) -> dict[str, object]:
    """Submit the spreadsheet ``path``; ``ledger`` None: ``LAC_LEDGER``."""
    return submit_sheet(path, ledger, base_url, rate, max_attempts, bad_rows)


if __name__ == "__main__":
    lac_batch_submit(sys.argv[1])
