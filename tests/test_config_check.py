"""``config check`` says whether a scheduled job could work, and exits 2 when it could not."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import run_cli


def _config(folder: Path, text: str) -> Path:
    path = folder / "lac-batch.toml"
    path.write_text(text)
    return path


def _key(folder: Path, mode: int = 0o600) -> Path:
    path = folder / "api-key"
    path.write_text("lac_sk_live_abcdefghijklmnopqrstuvwxyz\n")
    path.chmod(mode)
    return path


def test_a_usable_config_exits_0_with_absolute_paths(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    _key(tmp_path)
    config = _config(tmp_path, '[api_key]\nfile = "api-key"\n')
    outcome = run_cli("config", "check", "--config", config, env={"LAC_LEDGER": ""})
    assert outcome.exit_code == 0, outcome.output
    assert f"Config file: {config.resolve()}" in outcome.stdout
    assert "inbox" in outcome.stdout and str((tmp_path / "inbox").resolve()) in outcome.stdout


def test_no_key_exits_2(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    config = _config(tmp_path, "rate = 2\n")
    outcome = run_cli("config", "check", "--config", config, env={"LAC_API_KEY": ""})
    assert outcome.exit_code == 2, outcome.output
    assert "Not usable: the API key" in outcome.stderr


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_a_key_file_others_can_read_exits_2(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    _key(tmp_path, 0o644)
    config = _config(tmp_path, '[api_key]\nfile = "api-key"\n')
    outcome = run_cli("config", "check", "--config", config)
    assert outcome.exit_code == 2, outcome.output
    assert "can be read by other users" in outcome.stderr


def test_a_missing_inbox_exits_2(tmp_path: Path) -> None:
    _key(tmp_path)
    config = _config(tmp_path, '[api_key]\nfile = "api-key"\n[folders]\ninbox = "nowhere"\n')
    outcome = run_cli("config", "check", "--config", config)
    assert outcome.exit_code == 2, outcome.output
    assert f"the inbox {(tmp_path / 'nowhere').resolve()} does not exist" in outcome.stderr


def test_a_ledger_folder_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    _key(tmp_path)
    config = _config(tmp_path, 'ledger = "gone/ledger.sqlite3"\n[api_key]\nfile = "api-key"\n')
    outcome = run_cli("config", "check", "--config", config, env={"LAC_LEDGER": ""})
    assert outcome.exit_code == 2, outcome.output
    assert f"the ledger folder {(tmp_path / 'gone').resolve()} does not exist" in outcome.stderr


def test_the_default_ledger_path_is_shown(tmp_path: Path) -> None:
    outcome = run_cli("config", "check", env={"LAC_LEDGER": "", "LAC_BATCH_CONFIG": ""})
    line = next(line for line in outcome.stdout.splitlines() if line.strip().startswith("ledger"))
    assert "(not set)" not in line
    assert "ledger.sqlite3" in line


def test_an_unknown_key_suggests_the_nearest(tmp_path: Path) -> None:
    config = _config(tmp_path, "rat = 5\n")
    outcome = run_cli("config", "check", "--config", config)
    assert outcome.exit_code == 2, outcome.output
    assert "unknown key 'rat'; did you mean 'rate'?" in outcome.stderr


def test_durations_show_as_a_config_file_writes_them(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    _key(tmp_path)
    config = _config(tmp_path, 'lock_warn_after = "90m"\n[api_key]\nfile = "api-key"\n')
    outcome = run_cli("config", "check", "--config", config, env={"LAC_LEDGER": ""})
    assert outcome.exit_code == 0, outcome.output
    assert re.search(r"lock_warn_after\s+90m\s", outcome.stdout), outcome.stdout
    assert re.search(r"retry_failed_for\s+24h\s", outcome.stdout), outcome.stdout
