"""``lac-batch submit``: validate, send, write results, exit with the documented code."""

from __future__ import annotations

import json
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from lac_batch.cli.common import (
    delimiter_value,
    file_options,
    guarded,
    ledger_notices,
    results_option,
    row_options,
    say_results_kept,
)
from lac_batch.cli.notify import submit_notifier
from lac_batch.cli.options import (
    config_option,
    effective_settings,
    load_credentials,
    secrets_of,
    setting_options,
    submit_options_from,
)
from lac_batch.cli.progress import ProgressReporter
from lac_batch.jobs.submit import HeldLedger, SubmitOutcome, SubmitProgress, submit_file
from lac_batch.model.errors import UsageError
from lac_batch.model.status import RowResult, Status
from lac_batch.model.stopping import stop_signals, stoppable
from lac_batch.model.summary import FIRST_ISSUES_SHOWN, format_counts
from lac_batch.sandbox import SANDBOX_WRITE_KEY, running_sandbox
from lac_batch.sending.credentials import ApiKey
from lac_batch.sending.engine import Job, StopReason
from lac_batch.settings.config import LogFormat

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_SETTINGS_OF_SUBMIT = (
    "base_url",
    "api_key_file",
    "account",
    "rate",
    "concurrency",
    "timeout",
    "max_attempts",
    "max_wait",
    "retry_ambiguous",
    "ca_bundle",
    "ledger",
    "log_format",
    "keys_file",
)

EMBEDDED_SANDBOX = "embedded-sandbox"
"""What ``sent_to`` calls the sandbox of ``submit --sandbox``: a new port every run, but the
same throwaway stand-in, so its results file fed back to it is trusted like any other."""


@click.command("submit")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@file_options
@row_options
@results_option
@config_option
@setting_options(*_SETTINGS_OF_SUBMIT)
@click.option("--dry-run", is_flag=True, help="Validate and build bodies; send nothing.")
@click.option("--sandbox", is_flag=True, help="Send to an embedded sandbox server on this machine.")
@click.option("--require-all-valid", is_flag=True, help="Send nothing if any row is invalid.")
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Resend rows left unknown by earlier runs, with the same Idempotency-Key.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Send every valid row again, even those already accepted (a new Idempotency-Key).",
)
@click.option(
    "--notify-webhook",
    metavar="URL",
    help=(
        "Post to this webhook when rows are invalid, rejected, failed or unknown, or the key is "
        "refused."
    ),
)
@click.option(
    "--notify-email",
    metavar="ADDRESS",
    multiple=True,
    help="Email this address then (repeatable; SMTP settings from [notify.email] of the config).",
)
@guarded
@stoppable
def submit_command(
    input_path: Path,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    strict: bool,
    allow_duplicates: bool,
    results_path: Path | None,
    config_path: Path | None,
    dry_run: bool,
    sandbox: bool,
    require_all_valid: bool,
    resend_unknown: bool,
    force: bool,
    notify_webhook: str | None,
    notify_email: tuple[str, ...],
    **flags: Any,
) -> None:
    """Validate INPUT, send every valid row to the LAC API, and write a results file.

    Exit code 0: all rows accepted or skipped; 1: some not; 2: usage or input error, or a wrong
    base URL: nothing delivered; 3: API key refused; 4: another run holds the ledger; 5: rows
    were sent but their results file (or the ledger's record of the run) could not be written;
    130: interrupted.
    """
    settings = effective_settings(config_path, flags)
    if sandbox:
        if flags.get("base_url") or flags.get("api_key_file"):
            raise UsageError(
                "--sandbox brings its own URL and key; drop --base-url and --api-key-file."
            )
        key = ApiKey(SANDBOX_WRITE_KEY)
        company_keys = None
    elif dry_run and settings.keys_file is None:
        key = ApiKey("")  # nothing is sent, so no key is needed to look at the bodies
        company_keys = None
    else:
        key, company_keys = load_credentials(settings)
    options = submit_options_from(
        settings,
        key,
        embedded_sandbox=sandbox,
        company_keys=company_keys,
        allow_duplicates=allow_duplicates,
        dry_run=dry_run,
        require_all_valid=require_all_valid,
        force=force,
        resend_unknown=resend_unknown,
        sheet=sheet,
        encoding=encoding,
        delimiter=delimiter_value(delimiter),
        strict=strict,
    )
    notifier = submit_notifier(
        settings, notify_webhook, notify_email, secrets_of(key, company_keys), sandbox=sandbox
    )
    progress = _Progress(settings.log_format, announce_new_ledger=not sandbox)
    with ExitStack() as stack, stop_signals() as stop:
        ledger = settings.ledger_location()
        if sandbox and not dry_run:
            # The sandbox's events are throwaway, so is its ledger: the real one is never touched.
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="lac-batch-sandbox-"))
            ledger = Path(scratch) / "ledger.sqlite3"
            server = stack.enter_context(running_sandbox())
            click.echo(f"Sandbox: {server.base_url} (embedded; nothing leaves this machine)")
            options = replace(options, base_url=server.base_url, destination=EMBEDDED_SANDBOX)
        outcome = submit_file(
            input_path, options, results=results_path, ledger=ledger, progress=progress, stop=stop
        )
    _print_summary(input_path, outcome, dry_run)
    if not dry_run:
        notifier.after_submit(input_path, outcome)
    sys.exit(int(outcome.exit_code))


class _Progress(SubmitProgress):
    """What ``submit`` says while it works: notes on standard error, then the progress display."""

    def __init__(self, log_format: LogFormat, *, announce_new_ledger: bool) -> None:
        self._log_format = log_format
        self._announce = announce_new_ledger
        self._reporter: ProgressReporter | None = None

    def results_kept(self, asked: Path, instead: Path) -> None:
        say_results_kept(asked, instead)

    def ledger_opened(self, ledger: HeldLedger) -> None:
        ledger_notices(ledger, announce=self._announce)

    def file_warning(self, text: str) -> None:
        click.echo(f"Warning: {text}", err=True)

    def sending(self, requests: int) -> None:
        self._reporter = ProgressReporter(requests, log_format=self._log_format)

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        if self._reporter is not None:
            self._reporter.attempt_starting(job, attempt_number)

    def row_finished(self, job: Job, result: RowResult) -> None:
        if self._reporter is not None:
            self._reporter.row_finished(job, result)

    def pace(self, latency: float | None, concurrency: int) -> None:
        if self._reporter is not None:
            self._reporter.pace(latency, concurrency)


def _print_block_lines(outcome: SubmitOutcome) -> None:
    """What the input's result block did: rows it kept from being sent though they changed, and
    (once) rows whose block was not trusted because it names another account or host."""
    changed = outcome.changed_since_accepted
    if changed:
        click.echo(
            f"  {len(changed)} rows were accepted earlier, as the results file says, and changed "
            "since; they were not sent again:"
        )
        for row in changed[:FIRST_ISSUES_SHOWN]:
            click.echo(f"  row {row.row_number}: changed since it was accepted: {row.changed}")
        if len(changed) > FIRST_ISSUES_SHOWN:
            click.echo(f"  … and {len(changed) - FIRST_ISSUES_SHOWN} more (see the error column)")
    if outcome.untrusted_note:
        click.echo(f"  {outcome.untrusted_note}.")


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
    _print_block_lines(outcome)
    run = outcome.run
    # A wrong base URL is said once, below, not again for every row it failed or left unsent.
    said_once = (
        {Status.FAILED, Status.NOT_SENT}
        if run is not None and run.stop_reason is StopReason.WRONG_BASE_URL
        else set()
    )
    problems = [
        result
        for result in outcome.results
        if result.error
        and result.status not in (Status.ACCEPTED, Status.SKIPPED)
        and result.status not in said_once
    ]
    for result in problems[:FIRST_ISSUES_SHOWN]:
        click.echo(f"  row {result.row_number}, {result.status.value}: {result.error}")
    if len(problems) > FIRST_ISSUES_SHOWN:
        click.echo(f"  … and {len(problems) - FIRST_ISSUES_SHOWN} more (see the results file)")
    if run is not None and run.latency is not None:
        how = "auto" if run.auto_concurrency else "fixed"
        click.echo(
            f"  Answers took {run.latency:.2f} s on average; concurrency {run.concurrency} ({how})."
        )
    if run is not None and run.stop_reason is not None:
        label = "Interrupted" if run.stop_reason is StopReason.INTERRUPTED else "Stopped"
        click.echo(f"{label}: {run.stop_message}", err=True)
    written = outcome.written
    if outcome.results_problem:
        click.echo(f"Error: {outcome.results_problem}", err=True)
    if outcome.ledger_problem:
        click.echo(f"Error: {outcome.ledger_problem}", err=True)
    elif written is not None and written.fallback_reason:
        click.echo(f"Warning: {written.fallback_reason}; results written instead to:", err=True)
    if written is not None:
        click.echo(f"Results: {written.path}")
