"""The ledger is never created by accident: a named ledger's folder must exist, the default one's
is created on first use, and every new ledger file is announced."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLES, run_cli, sandbox_env
from notify_receivers import WebhookReceiver, webhook

__all__ = ["webhook"]  # the fixture used below

from lac_batch.sandbox import Sandbox

NOTICE = "no earlier runs are known"


def sample(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(SAMPLES / "requests.csv", folder / "requests.csv"))


@pytest.mark.parametrize("where", ["flag", "env", "config"])
def test_a_named_ledger_in_a_missing_folder_is_exit_2_and_nothing_is_sent_or_created(
    tmp_path: Path, sandbox: Sandbox, where: str
) -> None:
    share = tmp_path / "share"  # an unmounted share: the folder is not there
    ledger = share / "lac" / "ledger.sqlite3"
    env = sandbox_env(sandbox)
    args: list[str | Path] = ["submit", sample(tmp_path / "in"), "--rate", "200"]
    if where == "flag":
        args += ["--ledger", ledger]
    elif where == "env":
        env["LAC_LEDGER"] = str(ledger)
    else:
        config = tmp_path / "lac-batch.toml"
        config.write_text(f"ledger = {str(ledger)!r}\n", encoding="utf-8")
        args += ["--config", config]
        env["LAC_LEDGER"] = ""
    outcome = run_cli(*args, env=env)
    assert outcome.exit_code == 2
    assert f"the ledger folder {ledger.parent} does not exist" in outcome.stderr
    assert not share.exists()
    assert sandbox.events() == []
    assert not (tmp_path / "in" / "requests.results.csv").exists()


def test_run_with_a_named_ledger_in_a_missing_folder_leaves_the_inbox_alone(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ledger = tmp_path / "share" / "ledger.sqlite3"
    config = tmp_path / "lac-batch.toml"
    config.write_text(f"ledger = {str(ledger)!r}\n", encoding="utf-8")
    sample(tmp_path / "inbox")
    env = {**sandbox_env(sandbox), "LAC_LEDGER": ""}
    outcome = run_cli("run", "--once", "--config", config, env=env)
    assert outcome.exit_code == 2
    assert "does not exist" in outcome.stderr
    assert not ledger.parent.exists()
    assert (tmp_path / "inbox" / "requests.csv").exists()
    assert sandbox.events() == []


def test_a_ledger_folder_that_cannot_be_used_is_exit_2(tmp_path: Path) -> None:
    outcome = run_cli(
        "submit", sample(tmp_path), "--ledger", "/proc/nope/l.sqlite3", env={"LAC_API_KEY": "k"}
    )
    assert outcome.exit_code == 2
    assert "/proc/nope" in outcome.stderr


@pytest.fixture
def default_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No ledger named anywhere: the default one, in a state folder under tmp_path."""
    monkeypatch.delenv("LAC_LEDGER")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield tmp_path / "state" / "lac-batch" / "ledger.sqlite3"


def test_the_default_ledger_folder_is_created_and_the_new_ledger_announced_once(
    tmp_path: Path, sandbox: Sandbox, default_ledger: Path
) -> None:
    path = sample(tmp_path)
    first = run_cli("submit", path, "--rate", "200", env=sandbox_env(sandbox))
    assert first.exit_code == 0, first.output
    assert default_ledger.exists()
    assert f"new ledger at {default_ledger}; {NOTICE}" in first.stderr
    again = run_cli("submit", path, "--rate", "200", env=sandbox_env(sandbox))
    assert again.exit_code == 0
    assert NOTICE not in again.output


def test_a_default_ledger_folder_that_cannot_be_created_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_ledger: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/proc/nope")
    outcome = run_cli("submit", sample(tmp_path), env={"LAC_API_KEY": "k"})
    assert outcome.exit_code == 2
    assert "cannot be created" in outcome.stderr


def test_run_logs_and_notifies_a_new_ledger_once(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path, webhook: WebhookReceiver
) -> None:
    if True:
        config = tmp_path / "lac-batch.toml"
        config.write_text(f'[notify]\nwebhook_url = "{webhook.url}"\n', encoding="utf-8")
        log_file = tmp_path / "run.log"
        env = {**sandbox_env(sandbox), "LAC_LOG_FILE": str(log_file), "LAC_SETTLE_SECONDS": "0"}
        sample(tmp_path / "inbox")
        first = run_cli("run", "--once", "--config", config, env=env)
        assert first.exit_code == 0, first.output
        assert f"new ledger at {private_ledger}; {NOTICE}" in first.stderr
        assert NOTICE in log_file.read_text(encoding="utf-8")
        sample(tmp_path / "inbox").rename(tmp_path / "inbox" / "second.csv")
        second = run_cli("run", "--once", "--config", config, env=env)
        assert second.exit_code == 0, second.output
        told = [json.dumps(document) for document in webhook.documents]
    assert sum(NOTICE in text for text in told) == 1
