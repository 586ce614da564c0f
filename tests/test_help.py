"""``--help`` teaches: headings, defaults, environment variables, examples, "did you mean"."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from lac_batch.cli.main import main


def _help(*arguments: str) -> str:
    result = CliRunner().invoke(main, [*arguments, "--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    return result.output


def _panel(shown: str, heading: str) -> str:
    """The text of the box under ``heading``."""
    start = shown.index(f"╭─ {heading} ")
    return shown[start : shown.index("╰", start)]


def test_submit_help_groups_options_under_headings() -> None:
    shown = _help("submit")
    assert "--sheet" in _panel(shown, "Input")
    assert "--rate" in _panel(shown, "Sending")
    assert "--ledger" in _panel(shown, "Ledger")
    assert "--results" in _panel(shown, "Output")


def test_submit_help_shows_defaults_and_environment_variables() -> None:
    sending = _panel(_help("submit"), "Sending")
    # A cell's text wraps with the widths of the other columns: read it as one line.
    flat = " ".join(sending.replace("│", " ").split())
    assert re.search(r"--rate .*\[env var: LAC_RATE\] \[default: 5\.0\]", flat)
    assert "LAC_API_KEY" in sending
    assert "production" in sending


def _every_command() -> list[list[str]]:
    """Every command of the COMMANDS table, and each subcommand of a group."""
    context = click.Context(main)
    found: list[list[str]] = []
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        if isinstance(command, click.Group):
            found.extend([name, sub] for sub in command.list_commands(context))
        else:
            found.append([name])
    return found


def test_every_command_help_has_an_example() -> None:
    commands = _every_command()
    assert ["retry"] in commands and ["ledger", "copy"] in commands
    for command in commands:
        shown = _help(*command)
        assert f"$ lac-batch {' '.join(command)}" in shown, command


def test_validate_help_offers_no_sending_options() -> None:
    shown = _help("validate")
    assert "╭─ Sending" not in shown
    for flag in ("--rate", "--base-url", "--dry-run", "--force"):
        assert flag not in shown
    assert "--allow-duplicates" in shown
    assert "Send rows" not in shown


def test_an_option_in_no_heading_is_still_shown() -> None:
    assert "--port" in _panel(_help("sandbox"), "Options")


@pytest.mark.parametrize(("typed", "meant"), [("submti", "submit"), ("valdate", "validate")])
def test_a_mistyped_command_gets_did_you_mean(typed: str, meant: str) -> None:
    result = CliRunner().invoke(main, [typed, "x.csv"])
    assert result.exit_code == 2
    assert f"No such command '{typed}'. Did you mean '{meant}'?" in result.output
