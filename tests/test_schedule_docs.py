"""The scheduler examples in the README run, and the settings table matches the code."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES, sandbox_env

from lac_batch.sandbox import Sandbox
from lac_batch.settings.config import SETTINGS

README = (REPO / "README.md").read_text(encoding="utf-8")


def block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)
    return next(text for text in blocks if containing in text)


def documented_commands() -> list[str]:
    cron = block("cron", "lac-batch run").strip().split(None, 5)[5]
    service = block("ini", "ExecStart=")
    exec_start = next(
        line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart=")
    )
    return [cron, exec_start]


def documented_set_up(root: Path) -> list[list[str]]:
    """The README's `install -d` lines, for ``root`` instead of /srv/lac-batch, without owners
    (the test does not run as the service's user)."""
    lines = [line for line in block("sh", "install -d").splitlines() if line.strip()]
    commands = []
    for line in lines:
        words = shlex.split(line)
        assert words[:2] == ["install", "-d"], line
        owners = {index for index, word in enumerate(words) if word in ("-o", "-g")}
        commands.append(
            [
                word.replace("/srv/lac-batch", str(root))
                for index, word in enumerate(words)
                if index not in owners and index - 1 not in owners
            ]
        )
    return commands


def documented_ledger_line() -> str:
    return next(
        line for line in block("toml", "ledger = ").splitlines() if line.startswith("ledger = ")
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths in the examples")
@pytest.mark.parametrize("command", documented_commands())
def test_scheduler_command_lines_work(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.delenv("LAC_LEDGER")
    config = tmp_path / "lac-batch.toml"
    config.write_text(f"{documented_ledger_line()}\nrate = 300\nsettle_seconds = 0\n")
    for set_up in documented_set_up(tmp_path):
        subprocess.run(set_up, check=True, timeout=30)
    dropped = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "inbox" / "r.csv"))
    os.utime(dropped, (time.time() - 60, time.time() - 60))
    words = shlex.split(command)
    assert words[1:] == ["run", "--once", "--config", words[-1]]
    words[0] = str(Path(sys.executable).with_name("lac-batch"))
    words[-1] = str(config)
    done = subprocess.run(
        words,
        env={**os.environ, **sandbox_env(sandbox)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(sandbox.events()) == 36
    assert list((tmp_path / "inbox").iterdir()) == []
    assert (tmp_path / "state" / "ledger.sqlite3").is_file()


def test_every_setting_is_a_row_of_the_settings_table() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| ") and "`" in line]
    for setting in SETTINGS:
        row = next((line for line in rows if f"| `{setting.key}` |" in line), None)
        assert row is not None, setting.key
        if setting.flag:
            assert f"`{setting.flag}`" in row
        if setting.env:
            assert f"`{setting.env}`" in row
