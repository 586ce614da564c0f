"""Settings: one table of every setting, and where each value comes from.

Precedence, the same for every command: command-line flag > environment variable > config file
(``lac-batch.toml``, given by ``--config`` or ``LAC_BATCH_CONFIG``) > default. :data:`SETTINGS`
is the single statement of every setting's flag, variable, config key and default; the README's
table is checked against it.
"""

from __future__ import annotations

import codecs
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from lac_batch.model.errors import ConfigError, UsageError
from lac_batch.sending.credentials import API_KEY_ENV, BASE_URL_ENV, PRODUCTION_BASE_URL

__all__ = [
    "CONFIG_ENV",
    "SETTINGS",
    "ConfigFile",
    "EffectiveSettings",
    "Setting",
    "find_config_path",
    "key_lines",
    "load_config",
    "parse_duration",
    "read_settings_text",
    "read_toml",
    "resolve_settings",
]

CONFIG_ENV = "LAC_BATCH_CONFIG"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """``6h``, ``90d``, ``30m``, ``45s`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 6h, 30m or 90d")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value).strip().lower())
        if match is None:
            raise ValueError("a duration such as 6h, 30m or 90d")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration that is not negative")
    return timedelta(seconds=seconds)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError("a number") from None


def _positive_float(value: Any) -> float:
    number = _number(value)
    if not number > 0:
        raise ValueError("a number above 0")
    return number


def _non_negative_float(value: Any) -> float:
    number = _number(value)
    if number < 0:
        raise ValueError("a number of at least 0")
    return number


def _positive_int(value: Any) -> int:
    if isinstance(value, (bool, float)):
        raise ValueError("a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("a whole number") from None
    if number < 1:
        raise ValueError("a whole number of at least 1")
    return number


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value.strip()


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("true or false")


def _log_format(value: Any) -> str:
    word = _text(value).lower()
    if word not in ("text", "json"):
        raise ValueError("'text' or 'json'")
    return word


@dataclass(frozen=True)
class Setting:
    """One setting: how it is named on the command line, in the environment and in the file."""

    name: str
    key: str
    """Config key; a dot means a table: ``folders.inbox`` is ``inbox`` under ``[folders]``."""
    env: str | None
    flag: str | None
    parse: Callable[[Any], Any]
    default: Any
    help: str
    is_path: bool = False
    switch: bool = False
    """On the command line a flag without a value (``--retry-ambiguous``)."""


def _path(value: Any) -> str:
    return _text(value)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "base_url",
        "base_url",
        BASE_URL_ENV,
        "--base-url",
        _text,
        PRODUCTION_BASE_URL,
        "API base URL (note the /portal path)",
    ),
    Setting(
        "api_key_env",
        "api_key.env",
        None,
        None,
        _text,
        API_KEY_ENV,
        "name of the environment variable that holds the API key",
    ),
    Setting(
        "api_key_file",
        "api_key.file",
        "LAC_API_KEY_FILE",
        "--api-key-file",
        _path,
        None,
        "file holding only the API key (refused if others can read it, on POSIX)",
        is_path=True,
    ),
    Setting(
        "keys_file",
        "keys_file",
        "LAC_KEYS_FILE",
        "--keys-file",
        _path,
        None,
        "TOML file giving each customer_id its own API key (many companies in one sheet)",
        is_path=True,
    ),
    Setting(
        "account",
        "account",
        "LAC_ACCOUNT",
        "--account",
        _text,
        None,
        "account name in the ledger (default: a hash of the API key)",
    ),
    Setting(
        "rate",
        "rate",
        "LAC_RATE",
        "--rate",
        _positive_float,
        5.0,
        "requests started per second, at most",
    ),
    Setting(
        "concurrency",
        "concurrency",
        "LAC_CONCURRENCY",
        "--concurrency",
        _positive_int,
        4,
        "requests in flight, at most",
    ),
    Setting(
        "timeout",
        "timeout",
        "LAC_TIMEOUT",
        "--timeout",
        _positive_float,
        30.0,
        "seconds to connect, and for one whole answer once the request starts being written",
    ),
    Setting(
        "max_attempts",
        "max_attempts",
        "LAC_MAX_ATTEMPTS",
        "--max-attempts",
        _positive_int,
        5,
        "attempts per row for failures safe to retry",
    ),
    Setting(
        "max_wait",
        "max_wait",
        "LAC_MAX_WAIT",
        "--max-wait",
        _non_negative_float,
        900.0,
        "seconds one row may wait after 429 and 503 answers in all, by the clock",
    ),
    Setting(
        "retry_ambiguous",
        "retry_ambiguous",
        "LAC_RETRY_AMBIGUOUS",
        "--retry-ambiguous",
        _flag,
        False,
        "resend after ambiguous failures with the same Idempotency-Key",
        switch=True,
    ),
    Setting(
        "ca_bundle",
        "ca_bundle",
        "LAC_CA_BUNDLE",
        "--ca-bundle",
        _path,
        None,
        "PEM file of CA certificates instead of the system store",
        is_path=True,
    ),
    Setting(
        "ledger",
        "ledger",
        "LAC_LEDGER",
        "--ledger",
        _path,
        None,
        "the ledger file (default: the user's state directory)",
        is_path=True,
    ),
    Setting(
        "log_format",
        "log_format",
        "LAC_LOG_FORMAT",
        "--log-format",
        _log_format,
        "text",
        "log and progress lines as text or json",
    ),
    Setting(
        "log_file",
        "log_file",
        "LAC_LOG_FILE",
        "--log-file",
        _path,
        None,
        "also write log lines to this file, rotated at 10 MB, 5 kept",
        is_path=True,
    ),
    Setting(
        "lock_warn_after",
        "lock_warn_after",
        "LAC_LOCK_WARN_AFTER",
        None,
        parse_duration,
        timedelta(hours=6),
        "run: exit 4 when another run has held the lock this long",
    ),
    Setting(
        "settle_seconds",
        "settle_seconds",
        "LAC_SETTLE_SECONDS",
        None,
        _non_negative_float,
        5.0,
        "run: leave files changed in the last this many seconds for the next run",
    ),
    Setting(
        "poll_interval",
        "poll_interval",
        "LAC_POLL_INTERVAL",
        None,
        _positive_float,
        60.0,
        "run without --once: seconds between two looks at the inbox",
    ),
    Setting(
        "inbox",
        "folders.inbox",
        "LAC_INBOX",
        None,
        _path,
        "inbox",
        "run: where spreadsheets are dropped",
        is_path=True,
    ),
    Setting(
        "archive",
        "folders.archive",
        "LAC_ARCHIVE",
        None,
        _path,
        "archive",
        "run: where processed inputs are moved",
        is_path=True,
    ),
    Setting(
        "results",
        "folders.results",
        "LAC_RESULTS",
        None,
        _path,
        "results",
        "run: where results files are written",
        is_path=True,
    ),
    Setting(
        "failed",
        "folders.failed",
        "LAC_FAILED",
        None,
        _path,
        "failed",
        "run: where unreadable inputs are moved, with a .error.txt",
        is_path=True,
    ),
)
_BY_KEY = {setting.key: setting for setting in SETTINGS}
_TABLES = {"api_key", "folders", "notify"}
"""Tables a config file may have. ``notify`` is read by the notification settings."""


@dataclass(frozen=True)
class ConfigFile:
    """A parsed ``lac-batch.toml``: flat values by dotted key, and the line each came from."""

    path: Path
    values: dict[str, Any]
    lines: dict[str, int]
    tables: dict[str, Any] = field(default_factory=dict)
    """Whole tables kept for other readers (``notify``)."""


def key_lines(text: str) -> dict[str, int]:
    """Dotted key → line number, for messages (tomllib does not report where a value was)."""
    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\[?\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\]?\s*(#.*)?", stripped)
        if header:
            table = header.group(1).replace('"', "").replace(" ", "")
            lines.setdefault(table, number)
            continue
        assignment = re.match(r"([A-Za-z0-9_\-\"]+)\s*=", stripped)
        if assignment:
            key = assignment.group(1).strip('"')
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and not prefix and key in _TABLES:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_settings_text(path: Path, what: str) -> str:
    """The text of a settings file (``what``: "config file", "keys file"), which is UTF-8 as
    TOML requires; a ConfigError naming the file and the encoding it seems to have otherwise."""
    try:
        data = path.read_bytes()
    except OSError as error:
        problem = error.strerror or error
        raise ConfigError(f"{path}: the {what} cannot be read ({problem}).") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        seems = next((name for mark, name in _BYTE_ORDER_MARKS if data.startswith(mark)), None)
        line = data[: error.start].count(b"\n") + 1
        found = (
            f"it is {seems}"
            if seems
            else f"byte 0x{data[error.start]:02x} on line {line} is not UTF-8; it looks like "
            "Windows-1252 (ANSI) or Latin-1"
        )
        raise ConfigError(
            f"{path}: the {what} is not UTF-8 text ({found}). Save it as UTF-8 (in Notepad: "
            "Save as → Encoding: UTF-8)."
        ) from None


def read_toml(path: Path, what: str) -> tuple[dict[str, Any], str]:
    """The parsed table and the text of a TOML settings file (``what``: "config file", "keys
    file"): the one boundary where reading and parsing one becomes a ConfigError."""
    text = read_settings_text(path, what)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: the {what} is not valid TOML ({error}).") from error


def load_config(path: Path) -> ConfigFile:
    """Read and check ``path``: unknown keys and wrong types are errors naming key and line."""
    data, text = read_toml(path, "config file")
    lines = key_lines(text)
    problems: list[str] = []
    values: dict[str, Any] = {}
    tables = {name: data[name] for name in ("notify",) if isinstance(data.get(name), dict)}
    for key, value in _flatten(data).items():
        where = f"line {lines.get(key, '?')}"
        if key.startswith("notify."):
            continue
        setting = _BY_KEY.get(key)
        if setting is None:
            known = ", ".join(sorted(_BY_KEY))
            problems.append(f"{where}: unknown key '{key}' (known keys: {known})")
            continue
        try:
            values[key] = setting.parse(value)
        except ValueError as error:
            problems.append(f"{where}: '{key}' must be {error}, not {value!r}")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems) + ".")
    return ConfigFile(path, values, lines, tables)


def find_config_path(flag_value: Path | None, environ: Mapping[str, str]) -> Path | None:
    """``--config`` > ``LAC_BATCH_CONFIG`` > none."""
    if flag_value is not None:
        return flag_value
    configured = environ.get(CONFIG_ENV)
    return Path(configured) if configured else None


@dataclass(frozen=True)
class EffectiveSettings:
    """Every setting's value and where it came from (``flag --rate``, ``env LAC_RATE``, …)."""

    values: dict[str, Any]
    sources: dict[str, str]
    config: ConfigFile | None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def path(self, name: str) -> Path | None:
        value = self.values[name]
        return None if value is None else Path(value)


def resolve_settings(
    flags: Mapping[str, Any],
    config: ConfigFile | None,
    environ: Mapping[str, str] | None = None,
) -> EffectiveSettings:
    """Apply flag > environment > config file > default to every setting.

    ``flags`` maps setting names to command-line values (None: not given). Relative paths in the
    config file are taken relative to the file's folder, so a scheduled job finds them whatever
    its working directory.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        flag_value = flags.get(setting.name)
        if flag_value is not None and flag_value is not False:
            try:
                values[setting.name] = setting.parse(flag_value)
            except ValueError as error:
                raise UsageError(f"{setting.flag} must be {error}, not {flag_value!r}.") from None
            sources[setting.name] = f"flag {setting.flag}"
            continue
        if setting.env and environ.get(setting.env):
            try:
                values[setting.name] = setting.parse(environ[setting.env])
            except ValueError as error:
                raise UsageError(
                    f"the environment variable {setting.env} must be {error}, "
                    f"not {environ[setting.env]!r}."
                ) from None
            sources[setting.name] = f"env {setting.env}"
            continue
        if config is not None and setting.key in config.values:
            value = config.values[setting.key]
            if setting.is_path and not Path(value).is_absolute():
                value = str(config.path.parent / value)
            values[setting.name] = value
            sources[setting.name] = f"config {config.path}:{config.lines.get(setting.key, '?')}"
            continue
        default = setting.default
        if setting.is_path and default is not None and config is not None:
            default = str(config.path.parent / default)
        values[setting.name] = default
        sources[setting.name] = "default"
    return EffectiveSettings(values, sources, config)
