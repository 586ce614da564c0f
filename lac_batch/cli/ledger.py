"""``lac-batch report``, ``lac-batch ledger prune`` and ``ledger copy``: reading the ledger
back, and moving it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from lac_batch.cli.common import (
    file_options,
    guarded,
    locked_ledger,
    read_sheet,
    results_destination,
    results_option,
)
from lac_batch.cli.help import LacCommand, LacGroup
from lac_batch.cli.options import config_option, effective_settings, setting_options
from lac_batch.ledger.store import Ledger, default_ledger_path, file_digest
from lac_batch.model.errors import UsageError
from lac_batch.model.mapping import ColumnSetup, mapping_from_record
from lac_batch.model.wording import count_of
from lac_batch.settings.columns import column_setup
from lac_batch.settings.ledger_url import LedgerUrl, ledger_location, mask_ledger_url

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


def named_ledger(config_path: Path | None, ledger: str | None) -> Path | LedgerUrl:
    """--ledger > LAC_LEDGER > the config file's ``ledger`` > the user's state directory."""
    settings = effective_settings(config_path, {"ledger": ledger})
    return settings.ledger_location() or default_ledger_path()


def _columns_as_recorded(config_path: Path | None, ledger: Ledger, input_path: Path) -> ColumnSetup:
    """The config's mappings, and how the ledger's last run of ``input_path`` read its headers,
    so a file read with a mapping is rebuilt the same way."""
    setup = column_setup(effective_settings(config_path, {}).config)
    if not input_path.is_file():
        return setup  # reading it says what is wrong
    found = ledger.earlier_mapping(input_path.resolve(), file_digest(input_path))
    if found is None:
        return setup
    origin = f"run {found.run_id}"
    return replace(setup, remembered=mapping_from_record(found.mapping, origin))


@click.command("report", cls=LacCommand)
@config_option
@setting_options("ledger")
@click.option("--runs", "list_runs", is_flag=True, help="List recent runs (the default).")
@click.option(
    "--file",
    "input_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Rebuild the results file of the newest run of this input file (latest status of "
    "every row).",
)
@click.option(
    "--row",
    "rows",
    type=int,
    multiple=True,
    help="With --file: the whole history of this row across runs (repeatable).",
)
@click.option("--key", help="The whole history of the request with this Idempotency-Key.")
@file_options
@results_option
@guarded
def report_command(
    config_path: Path | None,
    ledger: str | None,
    list_runs: bool,
    input_path: Path | None,
    rows: tuple[int, ...],
    key: str | None,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    results_path: Path | None,
) -> None:
    """List recent runs, or rebuild a lost results file from the ledger."""
    # Imported here: it brings pandas and pandera, which --help must not load.
    from lac_batch.ledger.history import format_runs, rebuild_results
    from lac_batch.ledger.lock import runs_in_progress

    path = named_ledger(config_path, ledger)
    if isinstance(path, Path) and not path.exists():
        raise UsageError(f"{path}: there is no ledger here yet (nothing was submitted with it).")
    if rows and input_path is None:
        raise UsageError("--row needs --file INPUT.")
    if rows or key is not None:
        from lac_batch.cli.worklist import print_history

        print_history(path, input_path, rows, key)
        return
    opened = Ledger.open(path)
    try:
        if input_path is None or list_runs:
            # Still going is told by a run lock being held, never by probing a pid.
            runs = opened.runs()
            for line in format_runs(runs, running=runs_in_progress(opened, runs)):
                click.echo(line)
        if input_path is not None:
            destination = results_destination(input_path, results_path)
            if results_path is None and destination.exists():
                raise UsageError(
                    f"{destination}: exists; give --results PATH to choose where the rebuilt "
                    "results file goes."
                )
            columns = _columns_as_recorded(config_path, opened, input_path)
            request_sheet = read_sheet(input_path, sheet, encoding, delimiter, columns=columns)
            written = rebuild_results(opened, request_sheet, destination)
            click.echo(f"Results: {written.path}")
    finally:
        opened.close()


@click.group("ledger", cls=LacGroup)
def ledger_group() -> None:
    """Maintain the ledger."""


@ledger_group.command("prune", cls=LacCommand)
@config_option
@setting_options("ledger")
@click.option(
    "--older-than", required=True, help="Delete records older than this: 90d, 12w or 36h."
)
@guarded
def prune_command(config_path: Path | None, ledger: str | None, older_than: str) -> None:
    """Delete request and run records older than --older-than.

    A pruned request is forgotten: the same row in a later run is sent again.
    """
    from lac_batch.ledger.history import parse_age

    age = parse_age(older_than)
    with locked_ledger(named_ledger(config_path, ledger)) as opened:
        requests, runs = opened.prune(age)
    deleted = f"{count_of(requests, 'request record')} and {count_of(runs, 'run')}"
    click.echo(f"Deleted {deleted} older than {older_than}.")


def _named(config_path: Path | None, text: str, what: str) -> Path | LedgerUrl:
    """SRC or DST as the ledger setting reads it (a path, or a URL without a password), with
    the config file's password file and TLS choice for a URL."""
    try:
        location = ledger_location(text)
    except ValueError as error:
        raise UsageError(f"{what} must be {error}, not {mask_ledger_url(text)!r}.") from None
    assert location is not None
    if isinstance(location, LedgerUrl):
        settings = effective_settings(config_path, {})
        return location.with_password_file(settings.ledger_password_file, tls=settings.ledger_tls)
    return location


@ledger_group.command("copy", cls=LacCommand)
@config_option
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@guarded
def copy_command(config_path: Path | None, source: str, destination: str) -> None:
    """Copy the ledger SRC into the empty ledger DST, verify it, and mark SRC as moved.

    Each is a ledger file's path or a postgresql:// URL. Afterwards every command against SRC
    exits 2 saying where the ledger went.
    """
    from lac_batch.ledger.copy import copy_ledger

    outcome = copy_ledger(
        _named(config_path, source, "SRC"), _named(config_path, destination, "DST")
    )
    counts = outcome.rows
    click.echo(
        f"Copied {count_of(counts.get('requests', 0), 'request record')} and "
        f"{count_of(counts.get('runs', 0), 'run')} "
        f"({count_of(counts.get('run_rows', 0), 'row result')}, "
        f"{count_of(counts.get('attempts', 0), 'attempt')}, "
        f"{count_of(counts.get('resolutions', 0), 'resolution')}) from {outcome.source} to "
        f"{outcome.destination}; every row read back the same. {outcome.source} is marked as "
        f"moved: commands against it now exit 2 naming {outcome.destination}."
    )
