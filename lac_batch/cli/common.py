"""Pieces every ``lac-batch`` command shares: error handling, reading options, the ledger."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from lac_batch.jobs.submit import HeldLedger, choose_results_path, held_ledger
from lac_batch.ledger.store import Ledger, new_ledger_notice
from lac_batch.model.errors import Interrupted, LacBatchError
from lac_batch.rows.validation import RequestSheet, read_requests
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

P = ParamSpec("P")
R = TypeVar("R")


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a LacBatchError (or an interruption) into its one-paragraph message and exit code,
    never a traceback."""

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LacBatchError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(int(error.exit_code))
        except Interrupted as stop:
            click.echo(f"Interrupted: {stop}", err=True)
            sys.exit(int(stop.exit_code))

    run.__name__ = command.__name__
    run.__doc__ = command.__doc__
    return run


def _apply(
    command: Callable[P, R], options: list[Callable[[Callable[P, R]], Callable[P, R]]]
) -> Callable[P, R]:
    for option in reversed(options):
        command = option(command)
    return command


def file_options(command: Callable[P, R]) -> Callable[P, R]:
    """How to read the input file: --sheet, --encoding, --delimiter."""
    return _apply(
        command,
        [
            click.option("--sheet", help="Worksheet to read (default: the only one that fits)."),
            click.option("--encoding", help="Text encoding of a CSV file (default: detected)."),
            click.option(
                "--delimiter", help="CSV delimiter: ',', ';' or a tab (default: sniffed)."
            ),
        ],
    )


def row_options(command: Callable[P, R]) -> Callable[P, R]:
    """What counts as a valid row: --strict, --allow-duplicates."""
    return _apply(
        command,
        [
            click.option("--strict", is_flag=True, help="Treat unknown columns as an error."),
            click.option(
                "--allow-duplicates",
                is_flag=True,
                help="Send rows with identical bodies as separate requests.",
            ),
        ],
    )


def results_option(command: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--results",
        "results_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Where to write the results file (default: <input>.results.<ext>).",
    )(command)


def ledger_notices(held: HeldLedger, *, announce: bool = True) -> None:
    """Say that the ledger file is new (``announce``: it is not a throwaway), and how many
    records a crashed run left that are now ``unknown``."""
    if held.created and announce:
        click.echo(f"Note: {new_ledger_notice(held.path)}.", err=True)
    if held.recovered:
        click.echo(
            f"Warning: {held.recovered} requests were being sent when an earlier run stopped; "
            "they are now 'unknown' (they may have been processed).",
            err=True,
        )


@contextmanager
def locked_ledger(
    ledger_path: Path | LedgerUrl | None, *, announce: bool = True
) -> Iterator[Ledger]:
    """Hold the run lock (exit 4 if another run has it), open the ledger, recover crashes.

    ``ledger_path`` None: the default ledger, whose folder is created on first use; a named
    ledger's folder must exist. A new ledger file is announced (``announce``: not a throwaway).
    """
    with held_ledger(ledger_path) as held:
        ledger_notices(held, announce=announce)
        yield held.ledger


def delimiter_value(value: str | None) -> str | None:
    if value is None:
        return None
    return {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}.get(value.lower(), value)


def read_sheet(
    input_path: Path,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    strict: bool = False,
) -> RequestSheet:
    request_sheet = read_requests(
        input_path,
        sheet=sheet,
        encoding=encoding,
        delimiter=delimiter_value(delimiter),
        strict=strict,
    )
    for warning in request_sheet.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return request_sheet


def say_results_kept(asked: Path, instead: Path) -> None:
    click.echo(
        f"{asked} records rows sent to the API, so it is kept; these results go to {instead}."
    )


def results_destination(input_path: Path, results_path: Path | None) -> Path:
    """The checked results path: ``--results`` or the default beside the input.

    A results file there that records sent rows is kept: the results get the next free
    numbered name, and the output says so.
    """
    destination, kept = choose_results_path(input_path, results_path)
    if kept is not None:
        say_results_kept(kept, destination)
    return destination
