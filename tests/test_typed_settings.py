"""Settings are declared once, typed, and read as attributes of one frozen object; the sending
engine takes its defaults from them; one checker reads every table; one duration reading."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import run_cli

from lac_batch.jobs.submit import SubmitOptions
from lac_batch.ledger.history import parse_age
from lac_batch.model.errors import UsageError
from lac_batch.sending.credentials import ApiKey
from lac_batch.sending.engine import SubmitSettings
from lac_batch.settings.config import (
    SETTINGS,
    ConfigError,
    LogFormat,
    Settings,
    load_config,
    parse_duration,
    resolve_settings,
)


def test_resolved_settings_are_typed_attributes_of_a_frozen_object(tmp_path: Path) -> None:
    path = tmp_path / "lac-batch.toml"
    path.write_text('lock_warn_after = "2h"\nledger = "l.sqlite3"\n', encoding="utf-8")
    settings = resolve_settings(
        {"rate": "9"}, load_config(path), {"LAC_LOG_FORMAT": "JSON", "LAC_CONCURRENCY": "3"}
    )
    assert isinstance(settings, Settings)
    assert (settings.rate, settings.concurrency) == (9.0, 3)
    assert type(settings.rate) is float and type(settings.concurrency) is int
    assert settings.lock_warn_after == timedelta(hours=2)
    assert settings.ledger == tmp_path / "l.sqlite3"
    assert settings.log_format is LogFormat.JSON
    assert settings.sources["log_format"] == "env LAC_LOG_FORMAT"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.rate = 1.0  # type: ignore[misc]


def _allows(annotation: object, value: object) -> bool:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_allows(member, value) for member in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if typing.get_origin(annotation) is typing.Literal:
        return value in typing.get_args(annotation)
    assert isinstance(annotation, type)
    return isinstance(value, annotation)


def test_every_setting_is_one_typed_field_with_its_default() -> None:
    hints = typing.get_type_hints(Settings)
    defaults = Settings()
    assert [setting.name for setting in SETTINGS] == [
        item.name for item in dataclasses.fields(Settings) if item.name not in ("sources", "config")
    ]
    for setting in SETTINGS:
        assert _allows(hints[setting.name], setting.default), setting.name
        assert defaults.value_of(setting) == setting.default
    assert resolve_settings({}, None, {}) == defaults


def test_the_sending_engine_takes_its_defaults_from_the_settings_table() -> None:
    with pytest.raises(TypeError):
        SubmitSettings()  # type: ignore[call-arg]
    engine = Settings().submit_settings()
    by_name = {setting.name: setting.default for setting in SETTINGS}
    for name in ("rate", "concurrency", "timeout", "max_attempts", "max_wait", "retry_ambiguous"):
        assert getattr(engine, name) == by_name[name], name
    assert SubmitOptions("https://lac.test/portal", ApiKey("k")).settings == engine


def test_an_unknown_key_in_an_inline_table_is_reported_at_its_line(tmp_path: Path) -> None:
    """The main table is checked as [notify] is: a key without a line of its own is named at
    its table's line."""
    path = tmp_path / "lac-batch.toml"
    path.write_text('rate = 5\napi_key = { fil = "key" }\n', encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=r"line 2: unknown key 'api_key.fil'; did you mean 'api_key.file'\? \(known keys: ",
    ):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("36h", timedelta(hours=36)),
        ("90d", timedelta(days=90)),
        ("12w", timedelta(weeks=12)),
        (" 2 W ", timedelta(weeks=2)),
        ("0h", timedelta(0)),
        ("1.5d", timedelta(hours=36)),
    ],
)
def test_config_and_prune_read_a_duration_alike(
    tmp_path: Path, text: str, expected: timedelta
) -> None:
    assert parse_duration(text) == expected
    assert parse_age(text) == expected
    outcome = run_cli("ledger", "prune", "--older-than", text)
    assert outcome.exit_code == 0, outcome.output
    assert f"older than {text}." in outcome.stdout


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30m", 1800), ("45s", 45), ("45", 45), (120, 120), (1.5, 1.5), ("6H", 21600)],
)
def test_config_durations_keep_minutes_seconds_and_bare_numbers(
    value: str | float, seconds: float
) -> None:
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize("text", ["30m", "45", "45s", "6 months", "-1d", "d"])
def test_prune_refuses_an_age_that_could_be_misread(text: str) -> None:
    """``6m`` might be meant as six months; pruning by minutes would forget almost everything."""
    with pytest.raises(UsageError, match=r"is not an age; write e.g. 90d, 12w or 36h\."):
        parse_age(text)
    outcome = run_cli("ledger", "prune", "--older-than", text)
    assert outcome.exit_code == 2
    assert f"'{text}' is not an age" in outcome.stderr
