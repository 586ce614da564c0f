"""``lac-batch submit``: validate, send, write results, exit with the documented code."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from lac_batch.cli_common import (
    file_options,
    guarded,
    ledger_option,
    locked_ledger,
    read_sheet,
    results_destination,
    results_option,
    row_options,
)
from lac_batch.credentials import (
    BASE_URL_ENV,
    PRODUCTION_BASE_URL,
    ApiKey,
    check_base_url,
    load_api_key,
)
from lac_batch.errors import UsageError
from lac_batch.progress import LogFormat, ProgressReporter
from lac_batch.sandbox import SANDBOX_WRITE_KEY, running_sandbox
from lac_batch.status import Status
from lac_batch.submission import LedgerUse, SubmitOptions, SubmitOutcome, submit_sheet
from lac_batch.submit import StopReason, SubmitSettings
from lac_batch.summary import FIRST_ISSUES_SHOWN, format_counts
from lac_batch.validation import RequestSheet

__all__ = ["submit_command"]

P = ParamSpec("P")
R = TypeVar("R")
ACCOUNT_ENV = "LAC_ACCOUNT"


def _submit_options(command: Callable[P, R]) -> Callable[P, R]:
    options = [
        click.option("--base-url", help=f"API base URL (default: ${BASE_URL_ENV} or production)."),
        click.option(
            "--api-key-file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="File holding the API key (default: the LAC_API_KEY environment variable).",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0.01),
            default=5.0,
            show_default=True,
            help="Requests started per second, at most.",
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(min=1, max=64),
            default=4,
            show_default=True,
            help="Requests in flight, at most.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=30.0,
            show_default=True,
            help="Seconds to wait for one answer.",
        ),
        click.option(
            "--max-attempts",
            type=click.IntRange(min=1),
            default=5,
            show_default=True,
            help="Attempts per row for failures that are safe to retry (429 waits not counted).",
        ),
        click.option(
            "--max-wait",
            type=click.FloatRange(min=0),
            default=900.0,
            show_default=True,
            help="Seconds one row may wait on 429 answers in all.",
        ),
        click.option("--dry-run", is_flag=True, help="Validate and build bodies; send nothing."),
        click.option(
            "--sandbox", is_flag=True, help="Send to an embedded sandbox server on this machine."
        ),
        click.option(
            "--retry-ambiguous",
            is_flag=True,
            help="Resend after an ambiguous failure, with the same Idempotency-Key.",
        ),
        click.option(
            "--require-all-valid", is_flag=True, help="Send nothing if any row is invalid."
        ),
        click.option(
            "--ca-bundle",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="PEM file of CA certificates to trust instead of the system store.",
        ),
        click.option(
            "--log-format",
            type=click.Choice([member.value for member in LogFormat]),
            default=LogFormat.TEXT.value,
            show_default=True,
            help="Progress lines as text or JSON.",
        ),
        click.option(
            "--account",
            help=f"Name of the company account in the ledger (default: ${ACCOUNT_ENV}, else a "
            "hash of the API key). Keeps the ledger's memory when a key is rotated.",
        ),
        click.option(
            "--resend-unknown",
            is_flag=True,
            help="Resend rows left unknown by earlier runs, with the same Idempotency-Key.",
        ),
        click.option(
            "--force",
            is_flag=True,
            help="Send every valid row again, even those already accepted (a new Idempotency-Key).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _key_and_base_url(
    sandbox: bool, base_url: str | None, api_key_file: Path | None
) -> tuple[ApiKey, str]:
    if sandbox:
        if base_url or api_key_file:
            raise UsageError(
                "--sandbox brings its own URL and key; drop --base-url and --api-key-file."
            )
        return ApiKey(SANDBOX_WRITE_KEY), ""
    key = load_api_key(api_key_file)
    return key, check_base_url(base_url or os.environ.get(BASE_URL_ENV) or PRODUCTION_BASE_URL)


@click.command("submit")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@file_options
@row_options
@results_option
@ledger_option
@_submit_options
@guarded
def submit_command(
    input_path: Path,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    strict: bool,
    allow_duplicates: bool,
    results_path: Path | None,
    ledger_path: Path | None,
    base_url: str | None,
    api_key_file: Path | None,
    rate: float,
    concurrency: int,
    timeout: float,
    max_attempts: int,
    max_wait: float,
    dry_run: bool,
    sandbox: bool,
    retry_ambiguous: bool,
    require_all_valid: bool,
    ca_bundle: Path | None,
    log_format: str,
    account: str | None,
    resend_unknown: bool,
    force: bool,
) -> None:
    """Validate INPUT, send every valid row to the LAC API, and write a results file.

    Exit code 0: all rows accepted or skipped; 1: some not; 2: usage or input error, nothing
    sent; 3: API key refused; 4: another run holds the ledger; 130: interrupted.
    """
    key, resolved_url = _key_and_base_url(sandbox, base_url, api_key_file)
    destination = results_destination(input_path, results_path)
    options = SubmitOptions(
        base_url=resolved_url,
        api_key=key,
        settings=SubmitSettings(
            rate=rate,
            concurrency=concurrency,
            timeout=timeout,
            max_attempts=max_attempts,
            max_wait=max_wait,
            retry_ambiguous=retry_ambiguous,
        ),
        allow_duplicates=allow_duplicates,
        dry_run=dry_run,
        require_all_valid=require_all_valid,
        ca_bundle=ca_bundle,
        handle_signals=True,
        account=account or os.environ.get(ACCOUNT_ENV) or None,
    )

    def observers(total: int) -> list[ProgressReporter]:
        return [ProgressReporter(total, log_format=LogFormat(log_format))]

    def send(request_sheet: RequestSheet, url: str, ledger: LedgerUse | None) -> SubmitOutcome:
        chosen = SubmitOptions(**{**options.__dict__, "base_url": url})
        return submit_sheet(request_sheet, destination, chosen, observers, ledger)

    def read() -> RequestSheet:
        return read_sheet(input_path, sheet, encoding, delimiter, strict)

    if dry_run:
        outcome = send(read(), resolved_url or "http://127.0.0.1/portal", None)
    elif sandbox:
        # The sandbox's events are throwaway, so is its ledger: the real one is never touched.
        with (
            tempfile.TemporaryDirectory(prefix="lac-batch-sandbox-") as scratch,
            locked_ledger(Path(scratch) / "ledger.sqlite3") as ledger,
            running_sandbox() as server,
        ):
            click.echo(f"Sandbox: {server.base_url} (embedded; nothing leaves this machine)")
            outcome = send(read(), server.base_url, LedgerUse(ledger, force, resend_unknown))
    else:
        with locked_ledger(ledger_path) as ledger:
            outcome = send(read(), resolved_url, LedgerUse(ledger, force, resend_unknown))
    _print_summary(input_path, outcome, dry_run)
    sys.exit(int(outcome.exit_code))


def _print_summary(input_path: Path, outcome: SubmitOutcome, dry_run: bool) -> None:
    if dry_run:
        first = next(outcome.report.valid_rows, None)
        if first is not None:
            click.echo(f"First request body (row {first.row_number}):")
            click.echo(json.dumps(first.body, indent=2, ensure_ascii=False))
        click.echo("Dry run: nothing was sent.")
    click.echo(f"{input_path}: {len(outcome.results)} rows: {format_counts(outcome.counts)}")
    if outcome.forced:
        click.echo(f"  {outcome.forced} rows were sent again because of --force.")
    if outcome.accepted_elsewhere:
        click.echo(
            f"  {outcome.accepted_elsewhere} rows had already been accepted under another "
            "account (see the error column)."
        )
    problems = [
        result
        for result in outcome.results
        if result.error and result.status not in (Status.ACCEPTED, Status.SKIPPED)
    ]
    for result in problems[:FIRST_ISSUES_SHOWN]:
        click.echo(f"  row {result.row_number}, {result.status.value}: {result.error}")
    if len(problems) > FIRST_ISSUES_SHOWN:
        click.echo(f"  … and {len(problems) - FIRST_ISSUES_SHOWN} more (see the results file)")
    run = outcome.run
    if run is not None and run.stop_reason is not None:
        label = "Interrupted" if run.stop_reason is StopReason.INTERRUPTED else "Stopped"
        click.echo(f"{label}: {run.stop_message}", err=True)
    if outcome.written.fallback_reason:
        click.echo(
            f"Warning: {outcome.written.fallback_reason}; results written instead to:", err=True
        )
    click.echo(f"Results: {outcome.written.path}")
