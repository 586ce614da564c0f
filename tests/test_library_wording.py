"""The library speaks no CLI: its messages name options through a namer, and counts come from
structured reasons, never from message text."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path
from typing import cast

import click
import pytest

from lac_batch.cli.main import main
from lac_batch.cli.wording import FLAGS, flag_name
from lac_batch.files.results import check_results_path
from lac_batch.jobs.submit import SubmitOutcome
from lac_batch.ledger.plan import Action, PlannedRow, PlanReason
from lac_batch.model.errors import ResultsPathError, UsageError
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.wording import Option, naming, option_name
from lac_batch.rows.validation import ValidationReport

PACKAGE = Path(__file__).resolve().parent.parent / "lac_batch"
FLAG = re.compile(r"--[a-z]")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (documentation, not messages)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
        # An attribute's docstring: a bare string right after an assignment.
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for before, after in itertools.pairwise(body):
                if (
                    isinstance(before, ast.Assign | ast.AnnAssign)
                    and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                ):
                    found.add(id(after.value))
    return found


# Setting(...) and the typed settings' _setting(...) field declarations.
_DECLARERS = ("Setting", "_setting")


def _setting_declarations(tree: ast.AST) -> set[int]:
    """ids of the strings that declare a setting (``Setting(...)``: its flag and help), the one
    place a setting names its flag, as issue 14 asks of the settings table."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in _DECLARERS:
            for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
                found.update(id(inner) for inner in ast.walk(argument))
    return found


def _flags_named_outside_cli() -> list[str]:
    named = []
    for path in sorted(PACKAGE.rglob("*.py")):
        # The front ends (the command line and the web page) are where flags are named.
        if PACKAGE / "cli" in path.parents or PACKAGE / "web" in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        allowed = _docstrings(tree) | _setting_declarations(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in allowed
                and FLAG.search(node.value)
            ):
                named.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    return named


def test_no_string_outside_cli_names_a_flag() -> None:
    assert _flags_named_outside_cli() == []


def test_the_cli_names_every_option_with_a_flag_its_commands_have() -> None:
    assert set(FLAGS) == set(Option)
    flags = {
        name
        for command in _all_commands(main)
        for parameter in command.params
        for name in parameter.opts
    }
    for option, words in FLAGS.items():
        for flag in re.findall(r"--[a-z][a-z-]*", words):
            assert flag in flags, (option, flag)


def _all_commands(command: click.Command) -> list[click.Command]:
    context = click.Context(command)
    if not isinstance(command, click.Group):
        return [command]
    return [
        found
        for name in command.list_commands(context)
        for found in _all_commands(command.get_command(context, name))  # type: ignore[arg-type]
    ]


def test_a_python_caller_gets_messages_without_flags(tmp_path: Path) -> None:
    with pytest.raises(ResultsPathError) as raised:
        check_results_path(tmp_path / "missing" / "out.csv", tmp_path / "in.csv")
    assert "choose another results path" in str(raised.value)
    assert not FLAG.search(str(raised.value))


def test_the_cli_namer_names_flags_only_inside_its_block(tmp_path: Path) -> None:
    with naming(flag_name):
        assert option_name(Option.RESEND_UNKNOWN) == "--resend-unknown"
        with pytest.raises(UsageError, match="choose another --results path"):
            check_results_path(tmp_path / "same.csv", tmp_path / "same.csv")
    assert option_name(Option.RESEND_UNKNOWN) == "resend_unknown=True"


def _planned(row_number: int, note: str, reasons: frozenset[PlanReason]) -> PlannedRow:
    return PlannedRow(
        row_number, "{}", 1, 0, f"fp{row_number}", Action.SEND, note=note, reasons=reasons
    )


def test_counts_come_from_reasons_not_from_note_text() -> None:
    planned = [
        # The notes say what a counter by text would count; the reasons say what happened.
        _planned(2, "note mentions --force and under another account", frozenset()),
        _planned(3, "sent again", frozenset({PlanReason.FORCED})),
        _planned(4, "", frozenset({PlanReason.ACCEPTED_ELSEWHERE, PlanReason.FORCED})),
    ]
    # The counts read the plan alone: no report is needed to count it.
    outcome = SubmitOutcome(cast(ValidationReport, None), [], None, ExitCode.OK, planned=planned)
    assert outcome.forced == 2
    assert outcome.accepted_elsewhere == 1
