"""Ctrl-C while a command is still starting (importing its modules): exit 130, no traceback."""

from __future__ import annotations

import sys

import pytest

import lac_batch.cli.main as cli
import lac_batch.rows.validation as validate_cli


class Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def entry_outcome(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    def exit_now(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(sys, "argv", ["lac-batch", *args])
    monkeypatch.setattr(cli.os, "_exit", exit_now)
    with pytest.raises(Exited) as exited:
        cli.entry()
    return exited.value.code


def test_ctrl_c_while_a_command_is_imported_exits_130_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted_import(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.importlib, "import_module", interrupted_import)
    code = entry_outcome(monkeypatch, "submit", "requests.csv")
    err = capsys.readouterr().err
    assert code == 130
    assert "Traceback" not in err
    assert "Aborted" not in err
    assert err.strip().splitlines()[-1] == "Interrupted (Ctrl-C)."


def test_ctrl_c_escaping_a_command_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(validate_cli, "validate", interrupted)
    code = entry_outcome(monkeypatch, "validate", "samples/requests.csv")
    assert code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "Interrupted (Ctrl-C)."
