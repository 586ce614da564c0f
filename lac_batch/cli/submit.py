"""``lac-batch submit``: validate, send, write results, exit with the documented code."""

from __future__ import annotations

import json
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lac_batch.cli.common import (
    column_options,
    delimiter_value,
    file_options,
    guarded,
    results_option,
    row_options,
)
from lac_batch.cli.help import LacCommand
from lac_batch.cli.options import (
    config_option,
    effective_settings,
    load_credentials,
    secrets_of,
    setting_options,
    submit_options_from,
)
from lac_batch.model.advice import reason_of
from lac_batch.model.errors import UsageError
from lac_batch.model.status import RowResult, Status
from lac_batch.model.stopping import stop_signals, stoppable
from lac_batch.model.summary import FIRST_ISSUES_SHOWN, format_counts
from lac_batch.model.wording import count_of
from lac_batch.sending.credentials import ApiKey

if TYPE_CHECKING:
    from lac_batch.jobs.submit import SubmitOutcome

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


@click.command("submit", cls=LacCommand)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@file_options
@column_options
@row_options()
@results_option
@config_option
@setting_options(*_SETTINGS_OF_SUBMIT)
@click.option("--dry-run", is_flag=True, help="Validate and build bodies; send nothing.")
@click.option(
    "--bodies",
    "bodies_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="With --dry-run: write every request body to this file, one JSON line per row.",
)
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
    "--remap",
    is_flag=True,
    help="Read a file the ledger knows under another column mapping; its rows are new requests.",
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
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Do not ask before sending to a host that is not this machine (asked on a terminal only).",
)
@guarded
@stoppable
def submit_command(
    input_path: Path,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    column_map: tuple[str, ...],
    profile: str | None,
    header_row: int | None,
    strict: bool,
    allow_duplicates: bool,
    results_path: Path | None,
    config_path: Path | None,
    dry_run: bool,
    sandbox: bool,
    require_all_valid: bool,
    resend_unknown: bool,
    force: bool,
    remap: bool,
    notify_webhook: str | None,
    notify_email: tuple[str, ...],
    yes: bool,
    bodies_path: Path | None,
    **flags: Any,
) -> None:
    """Validate INPUT, send every valid row to the LAC API, and write a results file.

    Exit code 0: all rows accepted or skipped; 1: some not; 2: usage or input error, or a wrong
    base URL: nothing delivered; 3: API key refused; 4: another run holds the ledger; 5: rows
    were sent but their results file (or the ledger's record of the run) could not be written;
    130: interrupted.
    """
    # Imported here: they bring pandas, pandera and httpx, which --help must not load.
    from lac_batch.cli.notify import submit_notifier
    from lac_batch.cli.submit_progress import _Progress
    from lac_batch.jobs.submit import submit_file
    from lac_batch.sandbox import SANDBOX_WRITE_KEY, running_sandbox
    from lac_batch.settings.columns import column_setup

    if bodies_path is not None and not dry_run:
        raise UsageError("--bodies writes the bodies of a dry run; add --dry-run.")
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
        columns=column_setup(
            settings.config, column_map=column_map, profile=profile, header_row=header_row
        ),
        remap=remap,
    )
    notifier = submit_notifier(
        settings, notify_webhook, notify_email, secrets_of(key, company_keys), sandbox=sandbox
    )
    with ExitStack() as stack, stop_signals() as stop:
        progress = stack.enter_context(
            _Progress(settings.log_format, stop, announce_new_ledger=not sandbox, ask=not yes)
        )
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
    if bodies_path is not None:
        _write_bodies(bodies_path, outcome)
    _print_summary(input_path, outcome, dry_run)
    if not dry_run:
        notifier.after_submit(input_path, outcome)
    sys.exit(int(outcome.exit_code))


def _write_bodies(path: Path, outcome: SubmitOutcome) -> None:
    """Every body a real run would send, as JSON lines ``{"row": N, "body": {...}}``."""
    try:
        with path.open("w", encoding="utf-8", newline="\n") as stream:
            for verdict in outcome.report.valid_rows:
                stream.write(f'{{"row": {verdict.row_number}, "body": {verdict.body_json}}}\n')
    except OSError as error:
        raise UsageError(
            f"{path}: the request bodies cannot be written ({error.strerror or error}); choose "
            "another --bodies path."
        ) from None
    click.echo(f"Request bodies: {path}")


def _print_block_lines(outcome: SubmitOutcome) -> None:
    """What the input's result block did: rows it kept from being sent though they changed, and
    (once) rows whose block was not trusted because it names another account or host."""
    changed = outcome.changed_since_accepted
    if changed:
        click.echo(
            f"  {count_of(len(changed), 'row')} accepted earlier, as the results file says, "
            "changed since; not sent again:"
        )
        for row in changed[:FIRST_ISSUES_SHOWN]:
            click.echo(f"  row {row.row_number}: changed since it was accepted: {row.changed}")
        if len(changed) > FIRST_ISSUES_SHOWN:
            click.echo(f"  … and {len(changed) - FIRST_ISSUES_SHOWN} more (see the error column)")
    if outcome.untrusted_note:
        click.echo(f"  {outcome.untrusted_note}.")


NEXT_STEP = {
    Status.INVALID: "fix the cells the error column names, then run the same command again",
    Status.REJECTED: "the API refused them as they are: correct them before sending them again",
    Status.FAILED: "not delivered, so safe to send again: run the same command again",
    Status.UNKNOWN: (
        "they may have been processed: look them up in the LAC portal; for those that are not "
        "there, rerun with --resend-unknown (same Idempotency-Key, so none is made twice)"
    ),
}
"""One instruction per status, said once under its rows."""

_RANGES_SHOWN = 6
_EN_DASH = "\u2013"


def row_ranges(numbers: list[int]) -> str:
    """``rows 12-17, 20`` with an en dash (the first few ranges, then ``…``); ``row 5``."""
    ranges: list[tuple[int, int]] = []
    for number in sorted(numbers):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], number)
        else:
            ranges.append((number, number))
    texts = [str(a) if a == b else f"{a}{_EN_DASH}{b}" for a, b in ranges[:_RANGES_SHOWN]]
    if len(ranges) > _RANGES_SHOWN:
        texts.append("…")
    return f"{'row' if len(numbers) == 1 else 'rows'} {', '.join(texts)}"


def _grouped_problems(problems: list[RowResult], said_once: str) -> list[str]:
    """One line per status and reason with its rows, then the status's instruction once.
    ``said_once``: a reason the stop line says, not repeated for its rows."""
    by_status: dict[Status, dict[str, list[int]]] = {}
    for result in problems:
        reason = reason_of(result.error)
        by_status.setdefault(result.status, {}).setdefault(reason, []).append(result.row_number)
    lines: list[str] = []
    for status in Status:
        reasons = by_status.get(status)
        if not reasons:
            continue
        shown = sorted(reasons.items(), key=lambda item: min(item[1]))
        for reason, rows in shown[:FIRST_ISSUES_SHOWN]:
            why = "" if reason == said_once else f": {reason}"
            lines.append(f"  {count_of(len(rows), 'row')} {status.value} ({row_ranges(rows)}){why}")
        if len(shown) > FIRST_ISSUES_SHOWN:
            more = sum(len(rows) for _, rows in shown[FIRST_ISSUES_SHOWN:])
            lines.append(f"  … and {count_of(more, 'row')} more (see the results file)")
        if status in NEXT_STEP:
            lines.append(f"    → {NEXT_STEP[status]}")
    return lines


def _next_after_stop(outcome: SubmitOutcome) -> str:
    """What to do about rows a stop left unsent: said once, at the end."""
    counts = outcome.counts
    unsent = counts[Status.NOT_SENT]
    if not unsent:
        return ""
    done = counts[Status.ACCEPTED] + counts[Status.SKIPPED]
    skipped = f"; the {done:,} accepted will be skipped" if done else ""
    return f"{count_of(unsent, 'row')} not sent: run the same command again{skipped}."


def _print_summary(input_path: Path, outcome: SubmitOutcome, dry_run: bool) -> None:
    if dry_run:
        first = next(outcome.report.valid_rows, None)
        if first is not None:
            click.echo(f"First request body (row {first.row_number}):")
            click.echo(json.dumps(first.body, indent=2, ensure_ascii=False))
        click.echo("Dry run: nothing was sent.")
    rows = count_of(len(outcome.results), "row")
    click.echo(f"{input_path}: {rows}: {format_counts(outcome.counts)}")
    if outcome.forced:
        were = "was" if outcome.forced == 1 else "were"
        click.echo(f"  {count_of(outcome.forced, 'row')} {were} sent again because of --force.")
    if outcome.accepted_elsewhere:
        click.echo(
            f"  {count_of(outcome.accepted_elsewhere, 'row')} had already been accepted under "
            "another account (see the error column)."
        )
    _print_block_lines(outcome)
    from lac_batch.sending.engine import StopReason

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
    stop_said = run.stop_message if run is not None and run.stop_reason is not None else ""
    for line in _grouped_problems(problems, stop_said):
        click.echo(line)
    if run is not None and run.retries:
        slowdowns = (
            f" ({count_of(run.slowdowns, 'time')} the server asked to slow down)"
            if run.slowdowns
            else ""
        )
        click.echo(f"  {count_of(run.retries, 'request')} sent again{slowdowns}.")
    if run is not None and run.latency is not None:
        how = "auto" if run.auto_concurrency else "fixed"
        click.echo(
            f"  Answers took {run.latency:.2f} s on average; concurrency {run.concurrency} ({how})."
        )
    if run is not None and run.stop_reason is not None:
        label = {
            StopReason.INTERRUPTED: "Interrupted",
            StopReason.DECLINED: "Not sent",
        }.get(run.stop_reason, "Stopped")
        message = run.stop_message
        # "Interrupted: interrupted (Ctrl-C …)" said the same word twice.
        said = (
            f"{label}{message.removeprefix('interrupted')}."
            if message.startswith("interrupted")
            else f"{label}: {message}"
        )
        click.echo(said, err=True)
        next_step = _next_after_stop(outcome)
        if next_step and run.stop_reason in (StopReason.INTERRUPTED, StopReason.DECLINED):
            click.echo(next_step, err=True)
    written = outcome.written
    if outcome.results_problem:
        click.echo(f"Error: {outcome.results_problem}", err=True)
    if outcome.ledger_problem:
        click.echo(f"Error: {outcome.ledger_problem}", err=True)
    elif written is not None and written.fallback_reason:
        click.echo(f"Warning: {written.fallback_reason}; results written instead to:", err=True)
    if written is not None:
        click.echo(f"Results: {written.path}")
