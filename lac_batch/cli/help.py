"""How ``--help`` looks: option headings, examples, shown defaults and environment variables.

rich-click draws the help; this module says what goes in it. Two tables:

- :data:`OPTION_HEADINGS`: each option's heading, by flag, for every command at once. Adding an
  option to a heading is one line here; an option in no heading is still shown, under
  "Options". A flag a command does not have is passed over, so one table serves them all.
- :data:`EXAMPLES`: one or two real command lines per command, shown under "Examples".

Importing this module costs little (rich-click loads rich only when help is drawn), and it
imports nothing of pandas, pandera or httpx, so ``SUBCOMMAND --help`` answers at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import click
import rich_click
from rich_click import RichCommand, RichGroup
from rich_click.rich_context import RichContext
from rich_click.rich_help_formatter import RichHelpFormatter

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


class Heading(StrEnum):
    """The headings options are listed under, in this order."""

    INPUT = "Input"
    SENDING = "Sending"
    LEDGER = "Ledger"
    OUTPUT = "Output"
    NOTIFICATIONS = "Notifications"
    CONFIGURATION = "Configuration"


OPTION_HEADINGS: dict[str, Heading] = {
    # Reading the input file and deciding which rows are valid.
    "--sheet": Heading.INPUT,
    "--encoding": Heading.INPUT,
    "--delimiter": Heading.INPUT,
    "--header-row": Heading.INPUT,
    "--map": Heading.INPUT,
    "--remap": Heading.INPUT,
    "--profile": Heading.INPUT,
    "--strict": Heading.INPUT,
    "--allow-duplicates": Heading.INPUT,
    # Where requests go, how fast, and which rows.
    "--base-url": Heading.SENDING,
    "--api-key-file": Heading.SENDING,
    "--keys-file": Heading.SENDING,
    "--account": Heading.SENDING,
    "--sandbox": Heading.SENDING,
    "--dry-run": Heading.SENDING,
    "--require-all-valid": Heading.SENDING,
    "--resend-unknown": Heading.SENDING,
    "--force": Heading.SENDING,
    "--yes": Heading.SENDING,
    "--rate": Heading.SENDING,
    "--concurrency": Heading.SENDING,
    "--timeout": Heading.SENDING,
    "--max-attempts": Heading.SENDING,
    "--max-wait": Heading.SENDING,
    "--retry-ambiguous": Heading.SENDING,
    "--ca-bundle": Heading.SENDING,
    # What was sent before.
    "--ledger": Heading.LEDGER,
    # What the command writes and prints.
    "--results": Heading.OUTPUT,
    "--errors": Heading.OUTPUT,
    "--bodies": Heading.OUTPUT,
    "--log-format": Heading.OUTPUT,
    "--log-file": Heading.OUTPUT,
    "--notify-webhook": Heading.NOTIFICATIONS,
    "--notify-email": Heading.NOTIFICATIONS,
    "--config": Heading.CONFIGURATION,
}

EXAMPLES: dict[str, Sequence[tuple[str, str]]] = {
    "lac-batch": (
        ("Learn safely: a template, then a run against a sandbox on this machine", ""),
        ("", "lac-batch template requests.xlsx"),
        ("", "lac-batch submit --sandbox requests.xlsx"),
    ),
    "template": (("Write a blank workbook to fill in", "lac-batch template requests.xlsx"),),
    "validate": (
        (
            "Check a file; the results file marks every invalid row",
            "lac-batch validate requests.xlsx",
        ),
        (
            "Print every problem, not only the first 10",
            "lac-batch validate requests.csv --errors all",
        ),
    ),
    "submit": (
        (
            "Look at every request body first; nothing is sent",
            "lac-batch submit requests.xlsx --dry-run --bodies bodies.jsonl",
        ),
        (
            "Send (the key from $LAC_API_KEY); rows accepted earlier are skipped",
            "lac-batch submit requests.xlsx --rate 5",
        ),
    ),
    "columns": (
        ("How each header of a file is read", "lac-batch columns export.xlsx"),
        (
            "The same with a column read as another",
            "lac-batch columns export.csv --map 'Yhteys=connection_key'",
        ),
    ),
    "run": (("One pass over the inbox, for cron", "lac-batch run --once --config lac-batch.toml"),),
    "retry": (
        (
            "Resend the failed rows that are due, to where each was sent first",
            "lac-batch retry --config lac-batch.toml",
        ),
    ),
    "unknowns": (
        ("Every request that may have been processed, to check", "lac-batch unknowns"),
        ("The last week's, for a spreadsheet", "lac-batch unknowns --since 7d --format csv"),
    ),
    "resolve": (
        (
            "Found in the portal: later runs skip it",
            "lac-batch resolve --file requests.xlsx --row 12 --accepted --event-id evt_123",
        ),
        (
            "Not in the portal: resend it with the same key",
            "lac-batch resolve --key KEY --not-processed --note 'not in the portal'",
        ),
    ),
    "ui": (
        ("The web page, sending to a sandbox on this machine", "lac-batch ui --sandbox"),
        ("The web page with a scheduled set-up's settings", "lac-batch ui --config lac-batch.toml"),
    ),
    "report": (
        ("The last runs of the ledger", "lac-batch report --runs"),
        (
            "Rebuild a lost results file",
            "lac-batch report --file requests.xlsx --results requests.results.xlsx",
        ),
    ),
    "config check": (
        ("Check what a scheduled job will use", "lac-batch config check --config lac-batch.toml"),
    ),
    "ledger copy": (
        (
            "Move a ledger file to a shared PostgreSQL database",
            "lac-batch ledger copy state/ledger.sqlite3 postgresql://lac@db.example/lac",
        ),
    ),
    "ledger prune": (
        ("Forget requests older than a year", "lac-batch ledger prune --older-than 365d"),
    ),
    "notify test": (
        ("Send a test message to every target", "lac-batch notify test --config lac-batch.toml"),
    ),
    "sandbox": (
        ("A sandbox API on port 8099, for trying things", "lac-batch sandbox --port 8099"),
    ),
}


def _install_headings() -> None:
    # rich-click reads its configuration from these module globals when it draws help; "*"
    # matches every command, and a flag a command lacks is passed over.
    by_heading: dict[Heading, list[str]] = {heading: [] for heading in Heading}
    for flag, heading in OPTION_HEADINGS.items():
        by_heading[heading].append(flag)
    rich_click.rich_click.OPTION_GROUPS = {
        "*": [{"name": heading.value, "options": flags} for heading, flags in by_heading.items()]
    }
    rich_click.rich_click.MAX_WIDTH = 120


_install_headings()


def _examples_key(ctx: click.Context) -> str:
    """``submit``, ``config check``, or ``lac-batch`` for the group: the key of :data:`EXAMPLES`."""
    names: list[str] = []
    while ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(names) or "lac-batch"


class LacCommand(RichCommand):
    """A command whose help ends with its examples from :data:`EXAMPLES`."""

    def get_usage(self, ctx: click.Context) -> str:
        # The usage line above an error message stays one plain line, as click writes it.
        formatter = click.HelpFormatter()
        click.Command.format_usage(self, ctx, formatter)
        return formatter.getvalue().rstrip("\n")

    def format_epilog(self, ctx: RichContext, formatter: RichHelpFormatter) -> None:  # type: ignore[override]
        examples = EXAMPLES.get(_examples_key(ctx))
        if examples:
            from rich.padding import Padding
            from rich.text import Text

            text = Text("Examples:\n", style="bold")
            for said, line in examples:
                if said:
                    text.append(f"  {said}:\n", style="dim")
                if line:
                    text.append(f"    $ {line}\n")
            text.rstrip()
            formatter.write(Padding(text, (1, 1, 0, 1)))
        super().format_epilog(ctx, formatter)


class LacGroup(LacCommand, RichGroup):  # type: ignore[misc]
    """A group of commands (``config``, ``ledger``, ``notify``) with the same help."""

    command_class = LacCommand


class SettingOption(rich_click.RichOption):
    """A flag of a setting: its help shows the setting's default and environment variable,
    while the value still comes from the flag alone (``settings`` resolves flag > environment
    > config file > default itself, and must see which one gave the value)."""

    def __init__(self, *args: Any, shown_default: str | None = None, **kwargs: Any) -> None:
        if shown_default is not None:
            kwargs["show_default"] = True
        super().__init__(*args, **kwargs)
        self.shown_default = shown_default

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        if ctx.resilient_parsing and self.shown_default is not None:
            return self.shown_default  # only help asks while parsing is resilient
        return super().get_default(ctx, call=call)

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        return None
