"""``lac-batch retry``, ``unknowns``, ``resolve`` and ``report --row/--key``: closing the loop
on rows that did not go through. The library calls answer; this module renders."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from lac_batch.cli.common import guarded, ledger_notices
from lac_batch.cli.help import LacCommand
from lac_batch.cli.ledger import named_ledger
from lac_batch.cli.options import (
    config_option,
    effective_settings,
    load_credentials,
    setting_options,
    submit_options_from,
)
from lac_batch.jobs.retry import Clock, RetryOutcome, retry_failed
from lac_batch.jobs.submit import held_ledger
from lac_batch.ledger.history import parse_age
from lac_batch.ledger.plan import sent_to_host
from lac_batch.ledger.queries import request_history, resolve, unknowns
from lac_batch.ledger.store import RETRY_COMMAND, FailedWhy, Resolution
from lac_batch.ledger.worklist import RequestHistory, RequestNow
from lac_batch.model.errors import UsageError
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.status import Status
from lac_batch.model.stopping import stop_signals, stoppable
from lac_batch.model.summary import format_counts
from lac_batch.model.wording import count_of
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


def _local(moment: str | None) -> str:
    if not moment:
        return ""
    return datetime.fromisoformat(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")


# --- retry --------------------------------------------------------------------------------


def render_retry(outcome: RetryOutcome) -> list[str]:
    lines = []
    for row in outcome.retried:
        result = row.result
        by = " (sent by submit)" if row.origin == "submit" else ""
        # The recorded destination, not the configured one: say which, so a refused
        # connection is not blamed on the server the user has in mind.
        to = f" to {sent_to_host(row.base_url)}"
        lines.append(
            f"{row.file_path or row.file_name} row {result.row_number}{by}{to}: "
            f"{result.status.value}"
            + (f" {result.event_id}" if result.event_id else "")
            + (f" ({result.error})" if result.error and not result.event_id else "")
        )
    for record in outcome.expired:
        lines.append(
            f"{record.file_name} row {record.row_number}: stays failed; no longer retried "
            "(retry_failed_for is over since its first attempt): submit its file again to resend"
        )
    for left in outcome.left:
        lines.append(f"{left.file_name} row {left.row_number}: not retried: {left.why}")
    if outcome.retried:
        summary = (
            f"Retried {count_of(len(outcome.retried), 'failed row')}: "
            f"{format_counts(outcome.counts)}"
        )
        if outcome.from_submit:
            summary += f" ({len(outcome.from_submit)} of them sent by submit)"
    elif outcome.waiting:
        summary = "No failed row was due to be retried yet"
    else:
        summary = "Nothing to retry: no failed row is waiting for a try"
    lines.append(summary + ".")
    if outcome.waiting and outcome.next_due is not None:
        waits = "waits" if outcome.waiting == 1 else "wait"
        lines.append(
            f"{count_of(outcome.waiting, 'failed row')} {waits} for the next try, the first "
            f"due at {outcome.next_due.astimezone():%Y-%m-%d %H:%M:%S}: run `lac-batch retry` "
            "again then."
        )
    still = outcome.counts
    if still[Status.FAILED] or still[Status.NOT_SENT]:
        lines.append("Rows still failed are tried again by a later `lac-batch retry`.")
    if still[Status.UNKNOWN]:
        lines.append(
            "Unknown rows may have been processed: `lac-batch unknowns` lists them to check in "
            "the LAC portal."
        )
    if outcome.results_path is not None:
        lines.append(f"Results: {outcome.results_path}")
    if outcome.results_problem:
        lines.append(f"Warning: {outcome.results_problem}")
    if outcome.stop_message:
        lines.append(f"Stopped: {outcome.stop_message}")
    return lines


@click.command("retry", cls=LacCommand)
@config_option
@setting_options()
@click.option(
    "--run-only", is_flag=True, help="Retry only records made by `run` (default: submit too)."
)
@click.option(
    "--results-folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where the retry's results file goes (default: beside the retried run's results).",
)
@guarded
@stoppable
def retry_command(
    config_path: Path | None, run_only: bool, results_folder: Path | None, **flags: Any
) -> None:
    """Resend rows that failed because their attempts ran out, with the same Idempotency-Key.

    Each goes to the base URL and account it was recorded with. Exit 0: every retried row was
    accepted (or none was due); 1: some row is still not accepted, or stopped being retried;
    3: a key was refused; 4: another run holds the lock; 130: interrupted.
    """
    settings = effective_settings(config_path, flags)
    key, company_keys = load_credentials(settings)
    # Each record goes where it was recorded, never to the configured base URL: the library
    # checks the key against each of those instead.
    options = submit_options_from(
        settings, key, company_keys=company_keys, destination_checked_later=True
    )
    clock = click.get_current_context().find_object(Clock) or Clock()
    with (
        stop_signals() as stop,
        held_ledger(
            settings.ledger_location(), command=RETRY_COMMAND, accounts=options.accounts
        ) as held,
    ):
        ledger_notices(held)
        outcome = retry_failed(
            options,
            ledger=held,
            retry_failed_for=settings.retry_failed_for,
            include_submit=not run_only,
            results_folder=results_folder,
            now=clock.now,
            stop=stop,
        )
    if settings.retry_failed_for.total_seconds() <= 0:
        click.echo("Retrying failed rows is off (retry_failed_for = 0).")
    else:
        for line in render_retry(outcome):
            click.echo(line)
    code = ExitCode.INTERRUPTED if stop.is_set() else outcome.exit_code
    sys.exit(int(code))


# --- unknowns -------------------------------------------------------------------------------


def parse_since(text: str) -> datetime:
    """``7d`` (that long ago), or a date or time (``2026-11-30``, local time if no zone)."""
    try:
        return datetime.now(UTC) - parse_age(text)
    except UsageError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since '{text}': write an age (36h, 7d, 2w) or a date (2026-11-30)."
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


_UNKNOWN_COLUMNS = ("file", "row", "when", "why", "fields", "idempotency_key", "account")


@click.command("unknowns", cls=LacCommand)
@config_option
@setting_options("ledger")
@click.option(
    "--file", "input_path", type=click.Path(path_type=Path), help="Only rows of this input file."
)
@click.option("--since", help="Only rows sent since: an age (36h, 7d) or a date (2026-11-30).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    help="table (default), csv or json.",
)
@guarded
def unknowns_command(
    config_path: Path | None,
    ledger: str | None,
    input_path: Path | None,
    since: str | None,
    output_format: str,
) -> None:
    """List every request left unknown (it may have been processed), to check in the portal."""
    found = unknowns(
        named_ledger(config_path, ledger),
        file=input_path,
        since=parse_since(since) if since is not None else None,
    )
    if output_format == "json":
        click.echo(json.dumps([asdict(item) for item in found], indent=2, ensure_ascii=False))
        return
    rows = [
        (
            item.file_name,
            str(item.row_number),
            _local(item.when),
            item.why,
            ", ".join(f"{name}={value}" for name, value in item.fields.items()),
            item.idempotency_key,
            item.account,
        )
        for item in found
    ]
    if output_format == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([_UNKNOWN_COLUMNS, *rows])
        click.echo(buffer.getvalue(), nl=False)
        return
    if not rows:
        among = " of those asked for (--file, --since)" if input_path or since else ""
        click.echo(f"No request is left unknown{among}: nothing to check in the portal.")
        return
    for file_name, row, when, why, fields, key, _ in rows:
        click.echo(f"{file_name} row {row}, sent {when}: {fields}\n  key {key}\n  {why}")
    verb = "is" if len(rows) == 1 else "are"
    click.echo(
        f"{count_of(len(rows), 'request')} {verb} unknown. Check each in the LAC portal, then "
        "record what you found: `lac-batch resolve --key KEY --accepted --event-id ID` or "
        "`--not-processed`."
    )


# --- resolve --------------------------------------------------------------------------------


@click.command("resolve", cls=LacCommand)
@config_option
@setting_options("ledger")
@click.option("--key", "keys", multiple=True, help="Idempotency-Key of a request (repeatable).")
@click.option(
    "--file", "input_path", type=click.Path(path_type=Path), help="The input file of --row."
)
@click.option("--row", "rows", type=int, multiple=True, help="A row of --file (repeatable).")
@click.option("--accepted", is_flag=True, help="Found in the portal: later runs skip it.")
@click.option("--event-id", default="", help="With --accepted: the event_id the portal shows.")
@click.option("--not-processed", is_flag=True, help="Not in the portal: resent with the same key.")
@click.option("--note", default="", help="A note kept with the resolution.")
@guarded
def resolve_command(
    config_path: Path | None,
    ledger: str | None,
    keys: tuple[str, ...],
    input_path: Path | None,
    rows: tuple[int, ...],
    accepted: bool,
    event_id: str,
    not_processed: bool,
    note: str,
) -> None:
    """Record what you found in the portal for requests left unknown."""
    if accepted == not_processed:
        raise UsageError("give exactly one of --accepted and --not-processed.")
    if rows and input_path is None:
        raise UsageError("--row needs --file INPUT: name the input file whose rows they are.")
    done = resolve(
        Resolution.ACCEPTED if accepted else Resolution.NOT_PROCESSED,
        keys=keys,
        file=input_path,
        rows=rows,
        event_id=event_id,
        note=note,
        ledger=named_ledger(config_path, ledger),
    )
    after = (
        "later runs skip it, and a rerun of its file or results file does not send it again"
        if accepted
        else "it is failed now: `lac-batch retry` resends it at once with the same "
        "Idempotency-Key (so do the next pass of `run`, for rows `run` sent, and a rerun of its "
        "file)"
    )
    for item in done:
        click.echo(
            f"{item.file_name} row {item.row_number} ({item.idempotency_key}): was "
            f"{item.earlier_state}, resolved {item.resolution.value.replace('_', ' ')}; {after}."
        )


# --- report --row / --key --------------------------------------------------------------------


_FAILED_WHY = {
    FailedWhy.RAN_OUT.value: "its attempts ran out",
    FailedWhy.STOPPED.value: "its run stopped before it was settled",
    FailedWhy.NOT_PROCESSED.value: "resolved not processed",
}


def _next_step(record: RequestNow) -> str:
    """What a person does next about a request in this state ("" when nothing is left to do)."""
    key = record.idempotency_key
    if record.state == "unknown":
        return (
            "Next: check it in the LAC portal, then record what you found: `lac-batch resolve "
            f"--key {key} --accepted --event-id ID` or `--not-processed`."
        )
    if record.state != "failed":
        return ""
    if record.retry_ended:
        return "Next: it is no longer retried; send its file again (`lac-batch submit FILE`)."
    if record.failed_why in (FailedWhy.RAN_OUT, FailedWhy.NOT_PROCESSED):
        by = "`lac-batch retry` or the next pass of `lac-batch run`"
        return f"Next: {by if record.origin == 'run' else '`lac-batch retry`'} resends it."
    return "Next: send its file again (`lac-batch submit FILE`): it was never processed."


def render_history(history: RequestHistory, what: str) -> list[str]:
    if not history.found:
        return [
            f"The ledger has nothing of {what}: no run sent it. Check the file name and row "
            "number (rows count from the header, row 1); `lac-batch report` lists recent runs."
        ]
    told: list[tuple[str, list[str]]] = []
    for entry in history.entries:
        answer = f", HTTP {entry.http_status}" if entry.http_status is not None else ""
        attempts = f", {count_of(entry.attempts, 'attempt')}" if entry.attempts else ""
        event = f", event {entry.event_id}" if entry.event_id else ""
        lines = [
            f"  run {entry.run_id} ({entry.command} {entry.file_name} row {entry.row_number}, "
            f"{_local(entry.started_at)}): {entry.status}{event}{answer}{attempts}"
            + (f"; key {entry.idempotency_key}" if entry.idempotency_key else "")
            + (f"\n      {entry.error}" if entry.error else "")
        ]
        for attempt in entry.each_attempt:
            answer = (
                f"HTTP {attempt.http_status}" if attempt.http_status is not None else "no answer"
            )
            said = f": {attempt.error}" if attempt.error else ""
            lines.append(f"      attempt {attempt.n}, {_local(attempt.at)}: {answer}{said}")
        told.append((entry.started_at, lines))
    for item in history.resolutions:
        event = f", event {item.event_id}" if item.event_id else ""
        note = f": {item.note}" if item.note else ""
        line = (
            f"  resolved {item.resolution.replace('_', ' ')}{event} by {item.resolved_by} "
            f"({_local(item.resolved_at)}; was {item.earlier_state}){note}"
        )
        told.append((item.resolved_at, [line]))
    lines = [f"History of {what}:"]
    # Runs and resolutions in the order they happened.
    for _, block in sorted(told, key=lambda item: datetime.fromisoformat(item[0])):
        lines += block
    for record in history.records:
        why = (
            f" ({_FAILED_WHY.get(record.failed_why, record.failed_why)})"
            if record.failed_why
            else ""
        )
        retries = f", retried {count_of(record.retries, 'time')}" if record.retries else ""
        ended = ", no longer retried" if record.retry_ended else ""
        event = f", event {record.event_id}" if record.event_id else ""
        origin = record.origin or "an older lac-batch"
        lines.append(
            f"  now: {record.state}{why}{event}; {count_of(record.attempts, 'attempt')} in all"
            f"{retries}{ended}; first sent {_local(record.first_at)} by {origin}; "
            f"key {record.idempotency_key}"
        )
        if step := _next_step(record):
            lines.append(f"  {step}")
    return lines


def print_history(
    ledger_path: Path | LedgerUrl,
    input_path: Path | None,
    rows: tuple[int, ...],
    key: str | None,
) -> None:
    if key is not None:
        click.echo("\n".join(render_history(request_history(ledger_path, key=key), key)))
    for row in rows:
        assert input_path is not None
        history = request_history(ledger_path, file=input_path, row=row)
        click.echo("\n".join(render_history(history, f"{input_path.name} row {row}")))
