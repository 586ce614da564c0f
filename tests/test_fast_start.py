"""``lac-batch --help`` and ``--version`` start without loading pandas, pandera or httpx.

The command list is declared in ``lac_batch.cli.main`` (name, module, one-line summary), so that
``--help`` can list every command without importing it; these tests keep that table honest.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib.metadata import version

import click
import pytest
from click.testing import CliRunner

from lac_batch.cli import main as cli
from lac_batch.cli.help import LacGroup

HEAVY = ("pandas", "pandera", "httpx")

# Runs the command in a fresh interpreter the way the console script does, then reports which
# heavy libraries that process ended up importing.
_PROBE = """
import contextlib, io, json, sys
from lac_batch.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as shown:
    code = main(sys.argv[1:], prog_name="lac-batch", standalone_mode=False)
loaded = sorted(name for name in {heavy!r} if name in sys.modules)
print(json.dumps({{"code": code, "shown": shown.getvalue(), "loaded": loaded}}))
"""


def _start(*arguments: str) -> dict[str, object]:
    process = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    outcome: dict[str, object] = json.loads(process.stdout.splitlines()[-1])
    return outcome


@pytest.mark.parametrize(
    "arguments",
    [
        ("--help",),
        ("-h",),
        ("--version",),
        ("sandbox", "--help"),
        ("validate", "--help"),
        ("submit", "--help"),
        ("report", "--help"),
        ("ledger", "prune", "--help"),
    ],
    ids=" ".join,
)
def test_help_and_version_load_no_pandas_pandera_or_httpx(arguments: tuple[str, ...]) -> None:
    outcome = _start(*arguments)
    assert outcome["code"] == 0
    assert outcome["shown"], "nothing was printed"
    assert outcome["loaded"] == []


def test_help_still_lists_every_command_with_its_summary() -> None:
    outcome = _start("--help")
    shown = str(outcome["shown"])
    positions = [shown.find(f"│ {name} ") for name in cli.COMMANDS]
    assert -1 not in positions, shown
    assert positions == sorted(positions), "commands are listed in the order of the work"


def _imported(name: str) -> click.Command:
    module_name, attribute = cli.COMMANDS[name].target.split(":")
    command: click.Command = getattr(importlib.import_module(module_name), attribute)
    return command


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_each_declared_summary_is_the_commands_own_short_help(name: str) -> None:
    command = _imported(name)
    assert command.name == name
    stand_in = click.Command(name, help=cli.COMMANDS[name].summary)
    for limit in (20, 45, 60, 80, 200):
        assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), limit


@pytest.mark.parametrize("width", [50, 80, 200])
def test_help_reads_as_if_every_command_were_imported(width: int) -> None:
    # The same help drawn from the imported commands, in the declared order, is the reference.
    class EagerGroup(LacGroup):
        def list_commands(self, ctx: click.Context) -> list[str]:
            return list(cli.COMMANDS)

    eager = EagerGroup(
        "main",
        commands=[_imported(name) for name in cli.COMMANDS],
        help=cli.main.help,
        params=cli.main.params,
        context_settings=cli.main.context_settings,
    )
    runner = CliRunner()
    expected = runner.invoke(eager, ["--help"], prog_name="lac-batch", terminal_width=width)
    shown = runner.invoke(cli.main, ["--help"], prog_name="lac-batch", terminal_width=width)
    assert shown.exit_code == expected.exit_code == 0
    assert shown.output == expected.output


def test_version_names_the_installed_version() -> None:
    shown = CliRunner().invoke(cli.main, ["--version"], prog_name="lac-batch")
    assert shown.exit_code == 0
    assert shown.output == f"lac-batch, version {version('lac-batch')}\n"


def test_the_package_still_offers_its_version() -> None:
    import lac_batch

    assert lac_batch.__version__ == version("lac-batch")
