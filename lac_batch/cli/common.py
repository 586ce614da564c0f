"""Pieces every ``lac-batch`` command shares: error handling, reading options, the ledger."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

from lac_batch.model.columns import ColumnPlan
from lac_batch.model.errors import Interrupted, LacBatchError
from lac_batch.model.mapping import ColumnSetup

if TYPE_CHECKING:
    # Imported where used: they bring pandas, pandera and httpx, which --help must not load.
    from lac_batch.jobs.submit import HeldLedger
    from lac_batch.ledger.store import Ledger
    from lac_batch.rows.validation import RequestSheet
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


def column_options(command: Callable[P, R]) -> Callable[P, R]:
    """How to read the headers: --map, --profile, --header-row (with [columns] and
    [profiles.NAME] of the config file)."""
    return _apply(
        command,
        [
            click.option(
                "--map",
                "column_map",
                metavar="SOURCE=TARGET",
                multiple=True,
                help=(
                    "Read the file's column SOURCE as TARGET (a known column, "
                    "metadata.KEY[:TYPE], or - to ignore it); repeatable."
                ),
            ),
            click.option(
                "--profile", help="Read the headers with this [profiles.NAME] of the config."
            ),
            click.option(
                "--header-row",
                type=click.IntRange(min=1),
                help="The header's row number (default: found in the first 20 rows).",
            ),
        ],
    )


ALLOW_DUPLICATES_WHEN_SENDING = "Send rows with identical bodies as separate requests."
ALLOW_DUPLICATES_WHEN_CHECKING = (
    "Count rows with identical bodies as valid (each its own request), not as duplicates."
)


def row_options(
    allow_duplicates_help: str = ALLOW_DUPLICATES_WHEN_SENDING,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """What counts as a valid row: --strict, --allow-duplicates (its help in the command's
    terms: validate sends nothing)."""

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        return _apply(
            command,
            [
                click.option("--strict", is_flag=True, help="Treat unknown columns as an error."),
                click.option("--allow-duplicates", is_flag=True, help=allow_duplicates_help),
            ],
        )

    return decorate


class ErrorsShown(click.ParamType):  # type: ignore[type-arg]
    """``--errors``: a count of problems to print, or ``all`` (None: no limit)."""

    name = "errors"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().casefold()
        if text == "all":
            return None
        if text.isdigit():
            return int(text)
        self.fail(f"{value!r} is neither a number nor 'all'.", param, ctx)


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
    from lac_batch.ledger.store import new_ledger_notice, recovered_notice

    if held.created and announce:
        click.echo(f"Note: {new_ledger_notice(held.path)}.", err=True)
    if held.recovered:
        click.echo(
            f"Warning: {recovered_notice(held.recovered)}.",
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
    from lac_batch.jobs.submit import held_ledger

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
    columns: ColumnSetup | None = None,
) -> RequestSheet:
    from lac_batch.rows.validation import read_requests

    request_sheet = read_requests(
        input_path,
        sheet=sheet,
        encoding=encoding,
        delimiter=delimiter_value(delimiter),
        strict=strict,
        columns=columns,
    )
    for warning in request_sheet.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return request_sheet


def mapped_lines(plan: ColumnPlan) -> list[str]:
    """One line per header read by a mapping: what it fills, from where."""
    return [
        f"  column '{reading.header}' → {reading.target or 'ignored'} ({reading.origin})"
        for reading in plan.mapped
    ]


def say_results_kept(asked: Path, instead: Path) -> None:
    click.echo(
        f"{asked} records rows sent to the API, so it is kept; these results go to {instead}."
    )


def results_destination(input_path: Path, results_path: Path | None) -> Path:
    """The checked results path: ``--results`` or the default beside the input.

    A results file there that records sent rows is kept: the results get the next free
    numbered name, and the output says so.
    """
    from lac_batch.jobs.submit import choose_results_path

    destination, kept = choose_results_path(input_path, results_path)
    if kept is not None:
        say_results_kept(kept, destination)
    return destination
