"""`lac-batch.toml`, precedence (flag > environment > file > default) and `config check`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from conftest import run_cli

from lac_batch.model.errors import ConfigError
from lac_batch.settings.config import load_config, parse_duration, resolve_settings
from lac_batch.settings.keys_file import load_keys_file


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lac-batch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "rate = 7\nconcurrency = 3\ntimeout = 12\n"))
    settings = resolve_settings({"rate": 9.0}, config, {"LAC_RATE": "8", "LAC_CONCURRENCY": "2"})
    assert (settings.rate, settings.sources["rate"]) == (9.0, "flag --rate")
    assert (settings.concurrency, settings.sources["concurrency"]) == (2, "env LAC_CONCURRENCY")
    assert settings.timeout == 12.0
    assert settings.sources["timeout"] == f"config {tmp_path / 'lac-batch.toml'}:3"
    assert (settings.max_attempts, settings.sources["max_attempts"]) == (5, "default")


def test_relative_paths_in_the_file_are_relative_to_it(tmp_path: Path) -> None:
    config = load_config(
        write_config(tmp_path, 'ledger = "state/l.sqlite3"\n[folders]\ninbox = "in"\n')
    )
    settings = resolve_settings({}, config, {})
    assert settings.ledger == tmp_path / "state" / "l.sqlite3"
    assert settings.inbox == tmp_path / "in"
    assert settings.archive == tmp_path / "archive"


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "rate = 5\n\n[folders]\ninbx = 'x'\n")
    with pytest.raises(ConfigError, match=r"line 4: unknown key 'folders.inbx'"):
        load_config(path)


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'rate = "fast"\nconcurrency = 2.5\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "line 1: 'rate' must be a number" in message
    assert "line 2: 'concurrency' must be auto or a whole number" in message


def test_invalid_toml_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(write_config(tmp_path, "rate = = 5\n"))


def test_config_and_keys_files_translate_bad_toml_alike(tmp_path: Path) -> None:
    """One boundary for TOML: the same ConfigError, naming the file, with the parser's cause."""
    keys = tmp_path / "keys.toml"
    keys.write_text("[customers\n", encoding="utf-8")
    keys.chmod(0o600)
    config = write_config(tmp_path, "rate = = 5\n")
    for load, path, what in (
        (load_keys_file, keys, "keys file"),
        (load_config, config, "config file"),
    ):
        with pytest.raises(ConfigError) as caught:
            load(path)
        assert str(caught.value).startswith(f"{path}: the {what} is not valid TOML (")
        assert isinstance(caught.value.__cause__, tomllib.TOMLDecodeError)


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    from lac_batch.model.errors import UsageError

    with pytest.raises(UsageError, match="LAC_RATE must be a number"):
        resolve_settings({}, None, {"LAC_RATE": "lots"})


@pytest.mark.parametrize(
    ("text", "seconds"), [("6h", 21600), ("30m", 1800), ("90d", 7776000), ("45", 45), (120, 120)]
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_config_check_prints_sources_and_masks_the_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, "rate = 7\n")
    (tmp_path / "inbox").mkdir()
    secret = "lac_sk_live_0123456789abcdefWXYZ"
    outcome = run_cli(
        "config", "check", "--config", path, env={"LAC_API_KEY": secret, "LAC_CONCURRENCY": "3"}
    )
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.stdout.splitlines()
    assert lines[0] == f"Config file: {path}"
    assert any("rate" in line and "7.0" in line and f"[config {path}:1]" in line for line in lines)
    assert any("concurrency" in line and "[env LAC_CONCURRENCY]" in line for line in lines)
    assert any("max_attempts" in line and "[default]" in line for line in lines)
    assert lines[-1].split()[-1] == "lac_sk_…WXYZ"
    assert secret not in outcome.output


def test_config_check_reports_errors_with_exit_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, "rat = 7\n")
    outcome = run_cli("config", "check", "--config", path)
    assert outcome.exit_code == 2
    assert "line 1: unknown key 'rat'" in outcome.stderr


def test_config_env_variable_finds_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "rate = 7\n")
    outcome = run_cli("config", "check", env={"LAC_BATCH_CONFIG": str(path)})
    assert f"Config file: {path}" in outcome.stdout


def test_key_file_from_config_must_be_private(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("lac_sk_from_file_1234")
    key_file.chmod(0o640)
    path = write_config(tmp_path, '[api_key]\nfile = "key"\n')
    outcome = run_cli("config", "check", "--config", path)
    assert "chmod 600" in outcome.stdout
    key_file.chmod(0o600)
    outcome = run_cli("config", "check", "--config", path)
    assert outcome.stdout.splitlines()[-1].endswith("lac_sk_…1234")


def test_submit_takes_settings_from_the_config_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'base_url = "http://api.example.test/portal"\n')
    input_path = tmp_path / "in.csv"
    input_path.write_text("connection_key,request_type\na,b\n")
    outcome = run_cli("submit", input_path, "--config", path, env={"LAC_API_KEY": "lac_sk_x"})
    assert outcome.exit_code == 2
    assert "plain http" in outcome.stderr


@pytest.mark.parametrize(
    ("encoding", "named"),
    [("utf-16", "UTF-16"), ("cp1252", "Windows-1252")],
)
@pytest.mark.parametrize("command", [["config", "check"], ["run", "--once"]])
def test_a_config_file_that_is_not_utf8_is_exit_2_naming_file_and_encoding(
    tmp_path: Path, encoding: str, named: str, command: list[str]
) -> None:
    path = tmp_path / "lac-batch.toml"
    path.write_bytes('account = "Kahvila Ä"\nrate = 5\n'.encode(encoding))
    outcome = run_cli(*command, "--config", path, env={"LAC_API_KEY": "lac_sk_x"})
    assert outcome.exit_code == 2
    assert str(path) in outcome.stderr
    assert named in outcome.stderr and "UTF-8" in outcome.stderr


def test_a_keys_file_that_is_not_utf8_is_exit_2_naming_it(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_bytes('[customers."1"]\naccount = "Järvinen"\nenv = "K"\n'.encode("utf-16"))
    keys.chmod(0o600)
    outcome = run_cli("submit", tmp_path / "in.csv", "--keys-file", keys, env={"K": "lac_sk_x"})
    assert outcome.exit_code == 2
    assert f"{keys}: the keys file is not UTF-8 text (it is UTF-16)" in outcome.stderr
