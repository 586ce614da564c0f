"""What the Airflow, Dagster and Prefect examples share: a durable ledger, one submit, a verdict.

An orchestrator retries a task by running it again, often in a fresh container. That is safe only
because the ledger remembers every request: rows accepted by an earlier try are skipped, rows that
surely failed are sent again with the same Idempotency-Key, rows left unknown are held. A ledger
that lives and dies with the worker (the default one in a fresh container's home folder, or one in
a temporary folder) remembers nothing, and the next try would send every row again. So
:func:`durable_ledger` refuses to run without a ledger named on purpose.

:func:`judge` turns lac-batch's outcome into one of four verdicts that each example maps to its
orchestrator's own kinds of success and failure (the table is in the README, "Orchestrators").
Copy this file beside the example you use; it needs nothing but lac-batch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

import lac_batch

LEDGER_ENV = "LAC_LEDGER"
"""The ledger: a PostgreSQL URL (``postgresql://…``) or an absolute path on persistent storage."""
CREATE_LEDGER_ENV = "LAC_LEDGER_CREATE"
"""Set to 1 for the very first run only: lets a ledger file that does not exist yet be created."""
API_KEY_ENV = "LAC_API_KEY"
BASE_URL_ENV = "LAC_BASE_URL"

BadRows = Literal["warn", "fail"]
_URL_SCHEMES = ("postgresql://", "postgres://")
# Folders whose content does not outlive the machine (or the container) on common systems.
_FLEETING = ("/dev/shm", "/run", "/var/tmp")


class Verdict(StrEnum):
    SUCCEEDED = "succeeded"
    """Every row accepted (or skipped: accepted by an earlier run)."""
    SUCCEEDED_WITH_BAD_ROWS = "succeeded_with_bad_rows"
    """The rest went through; some rows are invalid or rejected and need their data fixed (a
    retry cannot help). With ``bad_rows="fail"`` this is FAIL instead."""
    RETRY = "retry"
    """Safe and useful to try again: rows failed or were not sent (surely not processed), the
    ledger was locked by another run, or the run was interrupted."""
    FAIL = "fail"
    """A person must look before anything else happens: rows left unknown (they may have been
    processed; check the LAC portal), an unusable file or ledger, a refused key, results that
    could not be written. Retrying would not help, and for unknown rows would hide them."""


class LedgerNotDurable(ValueError):
    """No ledger was named, or the one named would not outlive the worker."""


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    summary: str
    """One paragraph for the task's log and, on failure, its error."""
    exit_code: int
    """What ``lac-batch submit`` would have exited with."""
    counts: dict[str, int] = field(default_factory=dict)
    unknown_rows: list[int] = field(default_factory=list)
    failed_rows: list[int] = field(default_factory=list)
    """Rows ``failed`` or ``not_sent``: the next try sends them again."""
    bad_rows: list[int] = field(default_factory=list)
    """Rows ``invalid`` or ``rejected``: their data must be fixed."""
    results_path: str | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain values, for an XCom, asset metadata or a flow's return value."""
        return {
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "counts": dict(self.counts),
            "unknown_rows": list(self.unknown_rows),
            "failed_rows": list(self.failed_rows),
            "bad_rows": list(self.bad_rows),
            "results_path": self.results_path,
        }


def _is_url(value: str) -> bool:
    return value.lower().startswith(_URL_SCHEMES)


def _fleeting(folder: Path) -> str | None:
    """Why ``folder`` would not outlive the worker, or None."""
    for root in (Path(tempfile.gettempdir()).resolve(), *map(Path, _FLEETING)):
        if folder == root or root in folder.parents:
            return f"it is under {root}, which does not outlive the machine or container"
    return None


def durable_ledger(
    value: str | os.PathLike[str] | None = None,
    *,
    create: bool | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str | Path:
    """The ledger to use, as ``submit_file(ledger=...)`` takes it; LedgerNotDurable otherwise.

    ``value`` None: ``LAC_LEDGER``. A PostgreSQL URL passes as it is (lac-batch decides what it
    accepts). A path must be absolute, its folder must exist (a volume that is not mounted is a
    missing folder, never one created on the fly), not be a temporary folder, and the file must
    exist already unless ``create`` (None: ``LAC_LEDGER_CREATE=1``) says this is the first run.
    """
    named = os.fspath(value) if value is not None else environ.get(LEDGER_ENV, "")
    if not named.strip():
        raise LedgerNotDurable(
            "no ledger named: set LAC_LEDGER (or the task's ledger setting) to a PostgreSQL URL "
            "or to an absolute path on persistent storage. Without it each worker would start "
            "from an empty ledger and send every row again."
        )
    if _is_url(named):
        return named
    path = Path(named).expanduser()
    if not path.is_absolute():
        raise LedgerNotDurable(
            f"the ledger {named} is a relative path: a worker's working folder changes from run "
            "to run; name an absolute path on persistent storage."
        )
    folder = path.parent.resolve()
    if not folder.is_dir():
        raise LedgerNotDurable(
            f"the ledger's folder {folder} does not exist on this worker: is the persistent "
            "volume mounted? It is never created here, so an unmounted volume cannot pass for "
            "an empty ledger."
        )
    why = _fleeting(folder)
    if why is not None:
        raise LedgerNotDurable(f"the ledger {path} is not on persistent storage: {why}.")
    if create is None:
        create = environ.get(CREATE_LEDGER_ENV, "") == "1"
    if not path.exists() and not create:
        raise LedgerNotDurable(
            f"the ledger {path} does not exist. If this is the very first run, set "
            f"{CREATE_LEDGER_ENV}=1 once (and remove it afterwards); otherwise the volume that "
            "holds the ledger is not the one mounted here."
        )
    return path


def _rows(outcome: lac_batch.SubmitOutcome, *statuses: lac_batch.Status) -> list[int]:
    return [result.row_number for result in outcome.results if result.status in statuses]


def judge(outcome: lac_batch.SubmitOutcome, *, bad_rows: BadRows = "warn") -> Judgement:
    """The verdict on a finished submit: unknown rows first (a person must look), then what a
    retry would fix, then rows whose data is wrong."""
    status = lac_batch.Status
    code = lac_batch.ExitCode(outcome.exit_code)
    counts = {state.value: n for state, n in sorted(outcome.counts.items()) if n}
    unknown = _rows(outcome, status.UNKNOWN)
    failed = _rows(outcome, status.FAILED, status.NOT_SENT)
    bad = _rows(outcome, status.INVALID, status.REJECTED)
    said = ", ".join(f"{n} {name}" for name, n in counts.items()) or "no rows"
    where = f" Results: {outcome.results_path}." if outcome.results_path else ""
    problem = " ".join(p for p in (outcome.results_problem, outcome.ledger_problem or "") if p)

    def verdict(kind: Verdict, text: str) -> Judgement:
        return Judgement(
            verdict=kind,
            summary=f"{text} ({said}; lac-batch exit code {code.value}).{where}",
            exit_code=code.value,
            counts=counts,
            unknown_rows=unknown,
            failed_rows=failed,
            bad_rows=bad,
            results_path=str(outcome.results_path) if outcome.results_path else None,
        )

    if code is lac_batch.ExitCode.AUTH_REFUSED:
        return verdict(Verdict.FAIL, "the API key was refused (401 or 403): nothing more was sent")
    if code is lac_batch.ExitCode.RESULTS_NOT_WRITTEN:
        return verdict(Verdict.FAIL, problem or "the results or the ledger could not be written")
    if unknown:
        return verdict(
            Verdict.FAIL,
            f"{len(unknown)} rows are unknown (rows {_listed(unknown)}): they may have been "
            "processed. Check them in the LAC portal; they are not sent again unless resent "
            "with resend_unknown",
        )
    if code is lac_batch.ExitCode.UNUSABLE:
        return verdict(Verdict.FAIL, "lac-batch stopped: the base URL or the ledger is wrong")
    if failed or code is lac_batch.ExitCode.INTERRUPTED:
        return verdict(
            Verdict.RETRY,
            f"{len(failed)} rows were not delivered (rows {_listed(failed)}); they were surely "
            "not processed, and the next try sends them again with the same Idempotency-Key",
        )
    if bad:
        kind = Verdict.FAIL if bad_rows == "fail" else Verdict.SUCCEEDED_WITH_BAD_ROWS
        return verdict(
            kind,
            f"{len(bad)} rows are invalid or rejected (rows {_listed(bad)}): fix their data; a "
            "retry cannot help",
        )
    return verdict(Verdict.SUCCEEDED, "every row went through")


def judge_error(error: lac_batch.LacBatchError) -> Judgement:
    """The verdict when lac-batch refused to start (nothing was sent)."""
    code = lac_batch.ExitCode(error.exit_code)
    # Another run holds the ledger's lock: it is busy, not broken; a later try gets its turn.
    kind = Verdict.RETRY if code is lac_batch.ExitCode.LOCKED else Verdict.FAIL
    return Judgement(kind, f"{error} (lac-batch exit code {code.value}).", code.value)


def act_on(
    judgement: Judgement,
    *,
    fail: Callable[[str], BaseException],
    retry: Callable[[str], BaseException],
    warn: Callable[[str], object],
    inform: Callable[[str], object] = lambda _: None,
) -> dict[str, object]:
    """Raise the orchestrator's no-retry failure (``fail``) or retryable one (``retry``) made
    from the summary, or log it and return the task's result (``judgement.as_dict()``)."""
    match judgement.verdict:
        case Verdict.FAIL:
            raise fail(judgement.summary)
        case Verdict.RETRY:
            raise retry(judgement.summary)
        case Verdict.SUCCEEDED_WITH_BAD_ROWS:
            warn(judgement.summary)
        case Verdict.SUCCEEDED:
            inform(judgement.summary)
    return judgement.as_dict()


def _listed(rows: list[int], most: int = 20) -> str:
    shown = ", ".join(map(str, rows[:most]))
    return shown + (f" and {len(rows) - most} more" if len(rows) > most else "")


def submit(
    path: str | os.PathLike[str],
    *,
    ledger: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    settings: lac_batch.Settings | None = None,
    results: str | os.PathLike[str] | None = None,
    bad_rows: BadRows = "warn",
    create_ledger: bool | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Judgement:
    """Submit one file with lac-batch's library call and judge the outcome.

    ``ledger``, ``base_url``, ``api_key`` default to ``LAC_LEDGER``, ``LAC_BASE_URL`` and
    ``LAC_API_KEY``; give the key from your orchestrator's secrets. Raises LedgerNotDurable
    before anything is read or sent when the ledger would not outlive the worker.
    """
    chosen_ledger = durable_ledger(ledger, create=create_ledger, environ=environ)
    key = api_key if api_key is not None else environ.get(API_KEY_ENV, "")
    if not key:
        raise lac_batch.UsageError(f"no API key: set {API_KEY_ENV} from your secrets store")
    options = lac_batch.SubmitOptions(
        base_url=base_url or environ.get(BASE_URL_ENV) or lac_batch.Settings().base_url,
        api_key=lac_batch.ApiKey(key),
        settings=(settings or lac_batch.Settings()).submit_settings(),
    )
    try:
        outcome = lac_batch.submit_file(
            path, options, ledger=chosen_ledger, results=None if results is None else Path(results)
        )
    except lac_batch.LacBatchError as error:
        return judge_error(error)
    return judge(outcome, bad_rows=bad_rows)
