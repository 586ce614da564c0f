"""Dagster: a sensor watches an inbox folder; each new file content is one run of an asset that
submits it with lac-batch.

- The sensor's run key is the file's content digest: a file dropped twice, or renamed, is one
  run; an edited file is a new run (and the ledger sends only its rows not yet accepted).
- Retries are Dagster's: rows that surely failed (or a ledger locked by another run) raise
  ``RetryRequested``; the next try is safe because the ledger skips what was accepted. Rows left
  unknown raise ``Failure(allow_retries=False)``: a person checks them in the LAC portal.
- Invalid or rejected rows: the asset materialises with a warning, unless ``bad_rows="fail"``.
- The resource refuses to run without a durable ledger (``lac_task.durable_ledger``).

Load it with ``dagster dev -f lac_batch_dagster.py`` (``lac_task.py`` beside it); set
``LAC_INBOX``, ``LAC_LEDGER`` and ``LAC_API_KEY`` (and ``LAC_BASE_URL`` off production).
"""

# No `from __future__ import annotations`: Dagster reads the annotations of config classes and
# resources when they are defined.
import hashlib
import time
from pathlib import Path
from typing import Literal

import dagster as dg
import lac_task

import lac_batch

SHEET_SUFFIXES = frozenset({".xlsx", ".xls", ".ods", ".csv"})


class LacBatch(dg.ConfigurableResource):
    """Where and how lac-batch sends. Give ``api_key`` from ``dg.EnvVar`` (a secret)."""

    ledger: str | None = None
    """A PostgreSQL URL or an absolute path on persistent storage (None: ``LAC_LEDGER``)."""
    base_url: str | None = None
    """None: ``LAC_BASE_URL``, else production."""
    api_key: str | None = None
    """None: ``LAC_API_KEY``."""
    rate: float = 5.0
    max_attempts: int = 5
    """lac-batch's own resends of one request within a try (its 429/503 handling)."""
    bad_rows: Literal["warn", "fail"] = "warn"
    task_retries: int = 3
    """Dagster's tries of the whole file after rows failed."""
    retry_delay_seconds: float = 300.0

    def submit(self, path: str) -> lac_task.Judgement:
        return lac_task.submit(
            path,
            ledger=self.ledger,
            base_url=self.base_url,
            api_key=self.api_key,
            settings=lac_batch.Settings(rate=self.rate, max_attempts=self.max_attempts),
            bad_rows=self.bad_rows,
        )


class LacInbox(dg.ConfigurableResource):
    folder: str
    settle_seconds: float = 10.0
    """A file changed more recently than this may still be being written: left for later."""


class SubmitFileConfig(dg.Config):
    path: str


def content_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as sheet:
        for block in iter(lambda: sheet.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ready_sheets(inbox: LacInbox) -> list[Path]:
    """The inbox's spreadsheets, settled, without lac-batch's own results files."""
    now = time.time()
    return sorted(
        path
        for path in Path(inbox.folder).iterdir()
        if path.is_file()
        and path.suffix.lower() in SHEET_SUFFIXES
        and ".results" not in path.name
        and not path.name.startswith((".", "~$"))
        and now - path.stat().st_mtime >= inbox.settle_seconds
    )


@dg.asset(description="The service-connection requests of one inbox file, sent to LAC.")
def lac_submission(
    context: dg.AssetExecutionContext, config: SubmitFileConfig, lac: LacBatch
) -> dg.MaterializeResult:
    try:
        judgement = lac.submit(config.path)
    except lac_task.LedgerNotDurable as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    metadata = {
        "exit_code": judgement.exit_code,
        "counts": judgement.counts,
        "unknown_rows": judgement.unknown_rows,
        "failed_rows": judgement.failed_rows,
        "bad_rows": judgement.bad_rows,
        "results_path": judgement.results_path or "",
    }

    def needs_a_person(summary: str) -> dg.Failure:
        return dg.Failure(description=summary, metadata=metadata, allow_retries=False)

    def try_again(summary: str) -> Exception:
        if context.retry_number >= lac.task_retries:  # the last try says why it failed
            return dg.Failure(description=summary, metadata=metadata)
        context.log.warning(summary)
        return dg.RetryRequested(
            max_retries=lac.task_retries, seconds_to_wait=lac.retry_delay_seconds
        )

    lac_task.act_on(
        judgement,
        fail=needs_a_person,
        retry=try_again,
        warn=context.log.warning,
        inform=context.log.info,
    )
    return dg.MaterializeResult(metadata=metadata)


@dg.sensor(target=[lac_submission], minimum_interval_seconds=60)
def lac_inbox_sensor(context: dg.SensorEvaluationContext, inbox: LacInbox) -> dg.SensorResult:
    requests = [
        dg.RunRequest(
            run_key=f"lac-batch-{content_digest(path)}",
            run_config=dg.RunConfig(ops={"lac_submission": SubmitFileConfig(path=str(path))}),
            tags={"lac-batch/file": path.name},
        )
        for path in ready_sheets(inbox)
    ]
    return dg.SensorResult(run_requests=requests)


defs = dg.Definitions(
    assets=[lac_submission],
    sensors=[lac_inbox_sensor],
    resources={
        "lac": LacBatch(),
        "inbox": LacInbox(folder=dg.EnvVar("LAC_INBOX")),
    },
)
