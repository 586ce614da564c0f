"""The ``lac-batch`` command: the group, its table of commands, and the console script.

Each command lives in its own module (``cli/validate.py``, ``cli/submit.py``, ...), imported
only when that command runs. This module imports neither pandas, pandera nor httpx
(tests/test_fast_start.py checks it), so that ``lac-batch --help`` and ``--version`` answer at
once, and so that the moment before :func:`entry` runs, when a Ctrl-C still ends in Python's
traceback, stays short (about 0.06 s of CPU, half of it the interpreter's own start).
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import click

from lac_batch.cli.help import LacCommand, LacGroup
from lac_batch.cli.wording import flag_name
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.wording import naming

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@dataclass(frozen=True)
class DeclaredCommand:
    """A command as the group knows it before importing it."""

    target: str
    """``"module:attribute"``, imported when the command is named."""
    summary: str
    """The first paragraph of the command's own help, which ``--help`` lists (shortened by
    click as usual). Declared here because reading it from the command would import it; a test
    checks the two agree."""


COMMANDS = {
    # In the order of the work: `--help` lists them so.
    "template": DeclaredCommand(
        "lac_batch.cli.template:template_command",
        "Write a blank .xlsx (or .csv) with the right headers to PATH.",
    ),
    "validate": DeclaredCommand(
        "lac_batch.cli.validate:validate_command",
        "Check every row of INPUT and write a results file; nothing is sent.",
    ),
    "columns": DeclaredCommand(
        "lac_batch.cli.columns:columns_command",
        "Show how each header of FILE is understood: the column it fills, by which rule.",
    ),
    "submit": DeclaredCommand(
        "lac_batch.cli.submit:submit_command",
        "Validate INPUT, send every valid row to the LAC API, and write a results file.",
    ),
    "run": DeclaredCommand(
        "lac_batch.cli.run:run_command",
        "Submit every spreadsheet dropped in the inbox folder; for schedulers.",
    ),
    "report": DeclaredCommand(
        "lac_batch.cli.ledger:report_command",
        "List recent runs, or rebuild a lost results file from the ledger.",
    ),
    "retry": DeclaredCommand(
        "lac_batch.cli.worklist:retry_command",
        "Resend rows that failed because their attempts ran out, with the same Idempotency-Key.",
    ),
    "unknowns": DeclaredCommand(
        "lac_batch.cli.worklist:unknowns_command",
        "List every request left unknown (it may have been processed), to check in the portal.",
    ),
    "resolve": DeclaredCommand(
        "lac_batch.cli.worklist:resolve_command",
        "Record what you found in the portal for requests left unknown.",
    ),
    "ui": DeclaredCommand(
        "lac_batch.cli.ui:ui_command",
        "Serve the local web page: open a sheet, fix it, send it, follow the run.",
    ),
    "config": DeclaredCommand("lac_batch.cli.run:config_group", "Check the configuration."),
    "ledger": DeclaredCommand("lac_batch.cli.ledger:ledger_group", "Maintain the ledger."),
    "notify": DeclaredCommand(
        "lac_batch.cli.notify:notify_group",
        "Notifications: check that messages reach every target.",
    ),
    "sandbox": DeclaredCommand(
        "lac_batch.cli.sandbox:sandbox_command",
        "Serve a local LAC sandbox API until Ctrl-C, optionally misbehaving on purpose.",
    ),
}


class _LazyGroup(LacGroup):
    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        declared = COMMANDS.get(cmd_name)
        if declared is None:
            return None
        if self._listing:
            # The listing is made from the declared summaries: asking each command for its
            # help would import every command, and with them pandas, pandera and httpx.
            return LacCommand(name=cmd_name, help=declared.summary)
        module_name, attribute = declared.target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # click's own main, not rich-click's: usage errors stay one plain "Error: …" line
        # (scripts and tests read them); only help is drawn by rich-click.
        return click.Group.main(self, *args, **kwargs)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)  # type: ignore[arg-type]
        finally:
            self._listing = False

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint} Commands: {', '.join(COMMANDS)}.")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Ctrl-C before a command installs its own handler (while it imports): click would
            # say "Aborted!" and exit 1; let entry() give the documented 130 instead.
            raise _InterruptedEarly from None


class _InterruptedEarly(BaseException):
    """A Ctrl-C that reached the group: no ``except`` in click catches it on its way out."""


def _show_version(ctx: click.Context, _parameter: click.Parameter, asked: bool) -> None:
    # click.version_option wants the version when the group is built; reading it needs
    # importlib.metadata, a quarter of the start-up cost of every command, so only --version does.
    if not asked or ctx.resilient_parsing:
        return
    from lac_batch.model.version import __version__

    click.echo(f"lac-batch, version {__version__}")
    ctx.exit()


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
@click.pass_context
def main(context: click.Context) -> None:
    """Validate spreadsheets of LAC service-connection requests and submit them safely."""
    # The library's messages name options; on the command line they are its flags.
    context.with_resource(naming(flag_name))


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
