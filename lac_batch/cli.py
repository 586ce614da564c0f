"""The ``lac-batch`` command: parse arguments, call the library, print, set the exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from lac_batch import __version__
from lac_batch.errors import LacBatchError
from lac_batch.exit_codes import ExitCode
from lac_batch.reader import SUFFIX_FORMATS
from lac_batch.results import check_results_path, default_results_path, write_results
from lac_batch.summary import format_counts, format_issues
from lac_batch.validation import read_requests, validate

__all__ = ["main"]

P = ParamSpec("P")
R = TypeVar("R")


def _guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a LacBatchError into its one-paragraph message and exit code, never a traceback."""

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LacBatchError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(int(error.exit_code))

    run.__name__ = command.__name__
    run.__doc__ = command.__doc__
    return run


def _reading_options(command: Callable[P, R]) -> Callable[P, R]:
    options = [
        click.option("--sheet", help="Worksheet to read (default: the only one that fits)."),
        click.option("--encoding", help="Text encoding of a CSV file (default: detected)."),
        click.option("--delimiter", help="CSV delimiter: ',', ';' or a tab (default: sniffed)."),
        click.option("--strict", is_flag=True, help="Treat unknown columns as an error."),
        click.option(
            "--allow-duplicates",
            is_flag=True,
            help="Send rows with identical bodies as separate requests.",
        ),
        click.option(
            "--results",
            "results_path",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Where to write the results file (default: <input>.results.<ext>).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _results_destination(input_path: Path, results_path: Path | None) -> Path:
    file_format = SUFFIX_FORMATS.get(input_path.suffix.lower())
    if results_path is None and file_format is not None:
        results_path = default_results_path(input_path, file_format)
    if results_path is None:
        return input_path.with_name(f"{input_path.stem}.results.csv")
    check_results_path(results_path, input_path)
    return results_path


def _delimiter(value: str | None) -> str | None:
    if value is None:
        return None
    return {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}.get(value.lower(), value)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lac-batch")
def main() -> None:
    """Validate spreadsheets of LAC service-connection requests and submit them safely."""


@main.command("validate")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@_reading_options
@_guarded
def validate_command(
    input_path: Path,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    strict: bool,
    allow_duplicates: bool,
    results_path: Path | None,
) -> None:
    """Check every row of INPUT and write a results file; nothing is sent.

    Exit code 0: all rows valid; 1: some rows invalid; 2: the file cannot be used.
    """
    destination = _results_destination(input_path, results_path)
    request_sheet = read_requests(
        input_path, sheet=sheet, encoding=encoding, delimiter=_delimiter(delimiter), strict=strict
    )
    for warning in request_sheet.warnings:
        click.echo(f"Warning: {warning}", err=True)
    report = validate(request_sheet, allow_duplicates=allow_duplicates)
    written = write_results(destination, request_sheet.table, [row.result() for row in report.rows])
    click.echo(f"{input_path}: {len(report.rows)} rows: {format_counts(report.counts)}")
    for line in format_issues(report.issues):
        click.echo(line)
    if written.fallback_reason:
        click.echo(f"Warning: {written.fallback_reason}; results written instead to:", err=True)
    click.echo(f"Results: {written.path}")
    sys.exit(int(ExitCode.OK if report.valid else ExitCode.ROWS_NOT_OK))
