"""``lac-batch report`` and ``lac-batch ledger prune``: reading the ledger back."""

from __future__ import annotations

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
from lac_batch.cli.options import config_option, effective_settings, setting_options
from lac_batch.ledger.history import format_runs, parse_age, rebuild_results
from lac_batch.ledger.store import Ledger, default_ledger_path
from lac_batch.model.errors import UsageError
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


def _ledger_path(config_path: Path | None, ledger: str | None) -> Path | LedgerUrl:
    """--ledger > LAC_LEDGER > the config file's ``ledger`` > the user's state directory."""
    settings = effective_settings(config_path, {"ledger": ledger})
    return settings.ledger_location() or default_ledger_path()


@click.command("report")
@config_option
@setting_options("ledger")
@click.option("--runs", "list_runs", is_flag=True, help="List recent runs (the default).")
@click.option(
    "--file",
    "input_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Rebuild the results file of the newest run of this input file.",
)
@file_options
@results_option
@guarded
def report_command(
    config_path: Path | None,
    ledger: str | None,
    list_runs: bool,
    input_path: Path | None,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    results_path: Path | None,
) -> None:
    """List recent runs, or rebuild a lost results file from the ledger."""
    path = _ledger_path(config_path, ledger)
    if isinstance(path, Path) and not path.exists():
        raise UsageError(f"{path}: there is no ledger here yet (nothing was submitted with it).")
    opened = Ledger.open(path)
    try:
        if input_path is None or list_runs:
            for line in format_runs(opened.runs()):
                click.echo(line)
        if input_path is not None:
            destination = results_destination(input_path, results_path)
            if results_path is None and destination.exists():
                raise UsageError(
                    f"{destination}: exists; give --results PATH to choose where the rebuilt "
                    "results file goes."
                )
            request_sheet = read_sheet(input_path, sheet, encoding, delimiter)
            written = rebuild_results(opened, request_sheet, destination)
            click.echo(f"Results: {written.path}")
    finally:
        opened.close()


@click.group("ledger")
def ledger_group() -> None:
    """Maintain the ledger."""


@ledger_group.command("prune")
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
    age = parse_age(older_than)
    with locked_ledger(_ledger_path(config_path, ledger)) as opened:
        requests, runs = opened.prune(age)
    click.echo(f"Deleted {requests} request records and {runs} runs older than {older_than}.")
