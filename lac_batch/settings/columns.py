"""``[columns]`` and ``[profiles.NAME]`` of ``lac-batch.toml``: column mappings from the config.

```toml
[columns]                    # every file: its header = the column it fills
Notes = "note"
"Old column" = "-"           # ignored on purpose

[profiles.visma]             # picked when a file's headers are exactly these
files = "visma-*.csv"        # optional: narrows the automatic choice, never makes it alone
[profiles.visma.columns]
Yhteys = "connection_key"
```

Every problem (a target that is not a column, two sources mapped to one target, a profile
without columns) is a :class:`~lac_batch.model.errors.ConfigError` naming the file and line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lac_batch.model.errors import ConfigError, UsageError
from lac_batch.model.mapping import (
    ColumnMapping,
    ColumnSetup,
    MapEntry,
    Profile,
    checked_entry,
    checked_mapping,
    fold,
    parse_map_text,
)
from lac_batch.model.wording import Option, option_name
from lac_batch.settings.config import (
    ConfigFile,
    KeyChecker,
    key_lines,
    load_config,
    read_settings_text,
)

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_PROFILE_KEYS = ("columns", "files")


def _entries(table: Any, prefix: str, checker: KeyChecker, origin_of: str) -> list[MapEntry] | None:
    if not isinstance(table, Mapping):
        checker.problem(prefix, f"'{prefix}' must be a table of SOURCE = \"TARGET\" lines")
        return None
    entries: list[MapEntry] = []
    for source, target in table.items():
        key = f"{prefix}.{source}"
        where = f"{origin_of} ({checker.path} {checker.where(key)})"
        if not isinstance(target, str):
            checker.problem(key, f"'{key}' must be a column name in quotes, not {target!r}")
            continue
        try:
            entries.append(checked_entry(str(source), target.strip(), where))
        except UsageError as error:
            checker.problem(key, str(error).split(": ", 1)[-1].rstrip("."))
    return entries


def _mapping(entries: Sequence[MapEntry], checker: KeyChecker, key: str) -> ColumnMapping:
    try:
        return checked_mapping(entries)
    except UsageError as error:
        checker.problem(key, str(error).rstrip("."))
        return ColumnMapping()


def configured_columns(config: ConfigFile | None) -> tuple[ColumnMapping, tuple[Profile, ...]]:
    """The ``[columns]`` mapping and the profiles of ``config``; ConfigError on any problem."""
    if config is None:
        return ColumnMapping(), ()
    checker = KeyChecker(config.path, config.lines)
    columns = ColumnMapping()
    table = config.tables.get("columns")
    if table is not None:
        entries = _entries(table, "columns", checker, "[columns]")
        columns = _mapping(entries or [], checker, "columns")
    profiles: list[Profile] = []
    for name, body in (config.tables.get("profiles") or {}).items():
        prefix = f"profiles.{name}"
        if not isinstance(body, Mapping):
            checker.problem(prefix, f"'{prefix}' must be a table with a columns table")
            continue
        for key in body:
            if key not in _PROFILE_KEYS:
                checker.problem(
                    f"{prefix}.{key}",
                    f"unknown key '{prefix}.{key}' (known keys: {prefix}.columns, {prefix}.files)",
                )
        files = body.get("files")
        if files is not None and not isinstance(files, str):
            checker.problem(f"{prefix}.files", f"'{prefix}.files' must be a file-name pattern")
            files = None
        entries = _entries(
            body.get("columns", {}), f"{prefix}.columns", checker, f"profile '{name}'"
        )
        if entries is not None and not entries:
            checker.problem(prefix, f"profile '{name}' maps no columns ({prefix}.columns)")
        mapping = _mapping(entries or [], checker, prefix)
        origin = f"{config.path} {checker.where(prefix)}"
        profiles.append(
            Profile(str(name), ColumnMapping(mapping.entries, str(name)), files, origin)
        )
    checker.raise_problems()
    return columns, tuple(profiles)


def column_setup(
    config: ConfigFile | None,
    *,
    column_map: Sequence[str] = (),
    profile: str | None = None,
    header_row: int | None = None,
) -> ColumnSetup:
    """The column setup of one command: the config's tables, ``--map`` lines, ``--profile``,
    ``--header-row``. UsageError (exit 2) naming the flag or line for any bad mapping."""
    columns, profiles = configured_columns(config)
    flag = option_name(Option.MAP)
    overrides = checked_mapping(parse_map_text(text, flag) for text in column_map)
    setup = ColumnSetup(columns, profiles, profile, overrides, header_row)
    if profile is not None:
        setup.candidates()  # an unknown profile name is refused before anything is read
    return setup


_PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _toml_string(text: str) -> str:
    # A JSON string is a TOML basic string: the same quotes and escapes (\" \\ \n \uXXXX).
    return json.dumps(text, ensure_ascii=False)


def save_profile(config_path: Path | None, name: str, entries: Sequence[tuple[str, str]]) -> Path:
    """Add ``[profiles.NAME.columns]`` with ``entries`` (source header, target) to the end of
    the config file at ``config_path``; every byte already in the file stays as it was.

    Refused (ConfigError or UsageError, one paragraph, the file untouched): no config file, a
    name that is not plain letters, digits, ``_`` or ``-``, a profile of that name already, a
    profile that already expects exactly these headers (a file would fit both), a mapping the
    config would refuse, or a file that changed while it was being written.
    """
    if config_path is None:
        raise UsageError(
            "there is no config file to save a profile in: name one (a lac-batch.toml; it may "
            "be empty) when starting, or write the [profiles.NAME] table yourself."
        )
    if not _PROFILE_NAME.fullmatch(name):
        raise UsageError(
            f"profile name {name!r}: use letters, digits, '_' and '-' only (at most 64), "
            "e.g. 'visma' or 'client-a'."
        )
    if not entries:
        raise UsageError(f"profile '{name}': it maps no columns.")
    before = read_settings_text(config_path, "config file")
    raw = config_path.read_bytes()
    config = load_config(config_path)
    _, profiles = configured_columns(config)
    mapping = checked_mapping(
        checked_entry(source, target, f"profile '{name}'") for source, target in entries
    )
    for profile in profiles:
        if profile.name == name:
            raise UsageError(
                f"{config_path}: a profile named '{name}' is already there ({profile.origin}); "
                "choose another name, or edit that profile in the file."
            )
        if profile.expected == frozenset(fold(entry.source) for entry in mapping.entries):
            raise UsageError(
                f"{config_path}: profile '{profile.name}' ({profile.origin}) already expects "
                "exactly these headers; a file would fit both. Change that profile instead."
            )
    newline = "\r\n" if "\r\n" in before else "\n"
    lines = ["", f"[profiles.{name}.columns]"]
    lines += [f"{_toml_string(source)} = {_toml_string(target)}" for source, target in entries]
    addition = newline.join(lines) + newline
    if raw and not raw.endswith(b"\n"):
        addition = newline + addition
    text = raw + addition.encode("utf-8")
    _check_saved(config_path, text.decode("utf-8-sig"), name)
    partial = config_path.with_name(f".{config_path.name}.{os.getpid()}.partial")
    try:
        with partial.open("xb") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        shutil.copymode(config_path, partial)
        if config_path.read_bytes() != raw:
            raise UsageError(
                f"{config_path}: the file changed while the profile was being saved; nothing "
                "was written. Save it again."
            )
        os.replace(partial, config_path)
    except OSError as error:
        raise ConfigError(
            f"{config_path}: the profile could not be saved ({error.strerror or error}); the "
            "file is unchanged."
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    return config_path


def _check_saved(config_path: Path, text: str, name: str) -> None:
    """The file as it would be: still TOML, and its profiles load with the new one among them."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"{config_path}: a [profiles.{name}.columns] table cannot be added at the end of this "
            f"file ({error}); add the profile by hand."
        ) from None
    lines = key_lines(text)
    tables = {key: data[key] for key in ("columns", "profiles") if isinstance(data.get(key), dict)}
    _, profiles = configured_columns(ConfigFile(config_path, {}, lines, tables))
    if name not in {profile.name for profile in profiles}:
        raise ConfigError(
            f"{config_path}: the profile '{name}' would not be read back from this file; add it "
            "by hand."
        )
