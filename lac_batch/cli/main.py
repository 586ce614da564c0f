"""The ``lac-batch`` command: parse arguments, call the library, print, set the exit code.

Each command lives in its own module (``cli_submit``, ``cli_ledger``, ``sandbox.command``),
imported only when that command runs; this one holds the group and ``validate``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from lac_batch.cli.common import (
    file_options,
    guarded,
    read_sheet,
    results_destination,
    results_option,
    row_options,
)
from lac_batch.cli.wording import flag_name
from lac_batch.files.gc_pause import collector_paused
from lac_batch.files.results import write_result_blocks
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.summary import format_counts, format_issues
from lac_batch.model.version import __version__
from lac_batch.model.wording import naming
from lac_batch.rows.validation import validate

__all__ = ["entry", "main"]


# Command → "module:attribute". Imported when named (or listed by --help): validate then
# starts without loading httpx, the sandbox's server, openpyxl and the ledger's commands.
_OTHER_COMMANDS = {
    "submit": "lac_batch.cli.submit:submit_command",
    "run": "lac_batch.cli.run:run_command",
    "config": "lac_batch.cli.run:config_group",
    "sandbox": "lac_batch.cli.sandbox:sandbox_command",
    "report": "lac_batch.cli.ledger:report_command",
    "ledger": "lac_batch.cli.ledger:ledger_group",
    "template": "lac_batch.cli.template:template_command",
    "notify": "lac_batch.cli.notify:notify_group",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_OTHER_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _OTHER_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Ctrl-C before a command installs its own handler (while it imports): click would
            # say "Aborted!" and exit 1; let entry() give the documented 130 instead.
            raise _InterruptedEarly from None


class _InterruptedEarly(BaseException):
    """A Ctrl-C that reached the group: no ``except`` in click catches it on its way out."""


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lac-batch")
@click.pass_context
def main(context: click.Context) -> None:
    """Validate spreadsheets of LAC service-connection requests and submit them safely."""
    # The library's messages name options; on the command line they are its flags.
    context.with_resource(naming(flag_name))


@main.command("validate")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@file_options
@row_options
@results_option
@guarded
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
    destination = results_destination(input_path, results_path)
    # One pause for the whole job: between the library's own paused steps the collector would
    # otherwise walk every row read so far, several times over.
    with collector_paused():
        request_sheet = read_sheet(input_path, sheet, encoding, delimiter, strict)
        report = validate(request_sheet, allow_duplicates=allow_duplicates)
        written = write_result_blocks(destination, request_sheet.table, report.result_blocks())
    click.echo(f"{input_path}: {report.row_count} rows: {format_counts(report.counts)}")
    for line in format_issues(report.issues):
        click.echo(line)
    if written.fallback_reason:
        click.echo(f"Warning: {written.fallback_reason}; results written instead to:", err=True)
    click.echo(f"Results: {written.path}")
    sys.exit(int(ExitCode.OK if report.valid else ExitCode.ROWS_NOT_OK))


def entry() -> None:
    """The ``lac-batch`` console script: run :func:`main`, then end the process at once.

    When a command returns it has written its results, closed its ledger and released its lock;
    what is left is Python freeing every object of the job one by one, over a second for a
    million rows. ``os._exit`` skips that, and atexit handlers too, so output and log handlers
    are flushed here first. An unexpected exception still ends the usual way, with its report.
    """
    try:
        main()
    except SystemExit as stop:
        code = stop.code
    except (KeyboardInterrupt, _InterruptedEarly):
        print("Interrupted (Ctrl-C).", file=sys.stderr)
        code = int(ExitCode.INTERRUPTED)
    else:  # main() always exits; this is for a future caller that returns
        code = 0
    if isinstance(code, str):  # sys.exit("message"): the message and exit code 1
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
