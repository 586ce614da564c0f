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

from collections.abc import Mapping, Sequence
from typing import Any

from lac_batch.model.errors import UsageError
from lac_batch.model.mapping import (
    ColumnMapping,
    ColumnSetup,
    MapEntry,
    Profile,
    checked_entry,
    checked_mapping,
    parse_map_text,
)
from lac_batch.model.wording import Option, option_name
from lac_batch.settings.config import ConfigFile, KeyChecker

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
