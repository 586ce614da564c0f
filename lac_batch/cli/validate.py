"""``lac-batch validate``: check every row, write a results file, send nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lac_batch.cli.common import (
    ALLOW_DUPLICATES_WHEN_CHECKING,
    ErrorsShown,
    column_options,
    file_options,
    guarded,
    mapped_lines,
    read_sheet,
    results_destination,
    results_option,
    row_options,
)
from lac_batch.cli.help import LacCommand
from lac_batch.cli.options import config_option, effective_settings
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.summary import FIRST_ISSUES_SHOWN, format_counts, format_issues

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@click.command("validate", cls=LacCommand)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@file_options
@column_options
@row_options(ALLOW_DUPLICATES_WHEN_CHECKING)
@results_option
@config_option
@click.option(
    "--errors",
    "errors_shown",
    type=ErrorsShown(),
    default=str(FIRST_ISSUES_SHOWN),
    show_default=True,
    metavar="N|all",
    help="How many problems to print: a number, or all (the results file holds every one).",
)
@guarded
def validate_command(
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
    errors_shown: int | None,
    config_path: Path | None,
) -> None:
    """Check every row of INPUT and write a results file; nothing is sent.

    Exit code 0: all rows valid; 1: some rows invalid; 2: the file cannot be used.
    """
    # Imported here: they bring pandas and pandera, which --help must not load.
    from lac_batch.files.gc_pause import collector_paused
    from lac_batch.files.results import write_result_blocks
    from lac_batch.rows.validation import validate
    from lac_batch.settings.columns import column_setup

    settings = effective_settings(config_path, {})
    columns = column_setup(
        settings.config, column_map=column_map, profile=profile, header_row=header_row
    )
    destination = results_destination(input_path, results_path)
    # One pause for the whole job: between the library's own paused steps the collector would
    # otherwise walk every row read so far, several times over.
    with collector_paused():
        request_sheet = read_sheet(input_path, sheet, encoding, delimiter, strict, columns)
        report = validate(request_sheet, allow_duplicates=allow_duplicates)
        written = write_result_blocks(destination, request_sheet.table, report.result_blocks())
    for line in mapped_lines(request_sheet.plan):
        click.echo(line)
    click.echo(f"{input_path}: {report.row_count} rows: {format_counts(report.counts)}")
    for line in format_issues(report.issues, errors_shown):
        click.echo(line)
    if written.fallback_reason:
        click.echo(f"Warning: {written.fallback_reason}; results written instead to:", err=True)
    click.echo(f"Results: {written.path}")
    sys.exit(int(ExitCode.OK if report.valid else ExitCode.ROWS_NOT_OK))
