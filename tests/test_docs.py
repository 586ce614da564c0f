"""The README documents every command, option, status and exit code; CI runs its tests."""

from __future__ import annotations

import re

import click
import pytest
from conftest import REPO

from lac_batch.cli.main import main
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.status import Status

README = (REPO / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, prefix + name + " "))
    return found


@pytest.mark.parametrize(("name", "command"), _commands(main))
def test_every_command_and_option_is_in_the_readme(name: str, command: click.Command) -> None:
    assert f"lac-batch {name}" in README
    for parameter in command.params:
        if isinstance(parameter, click.Option):
            assert any(option in README for option in parameter.opts), (name, parameter.opts)


def test_every_status_is_in_the_readme() -> None:
    for status in Status:
        assert f"| `{status.value}` |" in README


def test_every_exit_code_the_readme_promises_exists() -> None:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.MULTILINE)
