"""Saving a column mapping as a profile into the config file (the page's "Save profile")."""

from __future__ import annotations

from pathlib import Path

import pytest

from lac_batch.model.errors import UsageError
from lac_batch.settings.columns import configured_columns, save_profile
from lac_batch.settings.config import load_config


def test_a_profile_is_added_at_the_end_and_every_earlier_byte_stays(tmp_path: Path) -> None:
    config = tmp_path / "lac-batch.toml"
    before = (
        '# käyttäjän asetukset\r\nrate = 5   # hidas\r\n\r\n[columns]\r\nNotes = "note"'.encode()
    )
    config.write_bytes(before)
    save_profile(config, "client-a", [("Yhteys", "connection_key"), ('Vanha "x"', "-")])
    after = config.read_bytes()
    assert after.startswith(before)
    assert after[len(before) :].decode().startswith("\r\n\r\n[profiles.client-a.columns]\r\n")
    _, profiles = configured_columns(load_config(config))
    assert [profile.name for profile in profiles] == ["client-a"]
    assert {entry.source: entry.target for entry in profiles[0].mapping.entries} == {
        "Yhteys": "connection_key",
        'Vanha "x"': "-",
    }


def test_saving_a_profile_is_refused_without_a_config_file_or_twice(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no config file"):
        save_profile(None, "a", [("Yhteys", "connection_key")])
    config = tmp_path / "lac-batch.toml"
    config.write_text("rate = 5\n", encoding="utf-8")
    save_profile(config, "a", [("Yhteys", "connection_key")])
    saved = config.read_bytes()
    with pytest.raises(UsageError, match="already there"):
        save_profile(config, "a", [("Other", "connection_key")])
    with pytest.raises(UsageError, match="already expects exactly these headers"):
        save_profile(config, "b", [("yhteys", "connection_key")])
    with pytest.raises(UsageError, match="mapped to"):
        save_profile(config, "c", [("X", "no_such_column")])
    with pytest.raises(UsageError, match="letters, digits"):
        save_profile(config, "a b]", [("X", "note")])
    assert config.read_bytes() == saved
    assert not list(tmp_path.glob(".*partial"))
