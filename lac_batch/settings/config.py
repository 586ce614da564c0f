"""Settings: one table of every setting, and where each value comes from.

Precedence, the same for every command: command-line flag > environment variable > config file
(``lac-batch.toml``, given by ``--config`` or ``LAC_BATCH_CONFIG``) > default. Each field of
:class:`Settings` is the single statement of one setting: its type, default, flag, variable and
config key. :data:`SETTINGS` lists them for the flags, ``config check`` and the README's table,
which a test checks against it. :class:`KeyChecker` checks every table of the file the same way,
``[notify]`` included, and :func:`parse_duration` is the one reading of a duration.
"""

from __future__ import annotations

import codecs
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from lac_batch.model.errors import ConfigError, UsageError
from lac_batch.sending.credentials import API_KEY_ENV, BASE_URL_ENV, PRODUCTION_BASE_URL
from lac_batch.sending.pacing import AUTO, MAX_CONCURRENCY, Concurrency, parse_concurrency
from lac_batch.settings.ledger_url import LedgerUrl, is_ledger_url, mask_ledger_url

if TYPE_CHECKING:
    from lac_batch.sending.engine import SubmitSettings

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

CONFIG_ENV = "LAC_BATCH_CONFIG"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]?)")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object, units: str = "smhdw") -> timedelta:
    """``6h``, ``90d``, ``30m``, ``45s``, ``1.5w``, or a bare number of seconds.

    ``units`` are the unit letters the caller accepts; a bare number counts as seconds, so it is
    accepted only with ``s``. ValueError saying what is expected otherwise.
    """
    expected = "a duration such as 6h, 30m or 90d"
    if isinstance(value, bool):
        raise ValueError(expected)
    if isinstance(value, (int, float)) and "s" in units:
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value).strip().lower())
        unit = "s" if match is None or not match.group(2) else match.group(2)
        if match is None or unit not in units:
            raise ValueError(expected)
        seconds = float(match.group(1)) * _DURATION_UNITS[unit]
    if seconds < 0:
        raise ValueError("a duration that is not negative")
    return timedelta(seconds=seconds)


def duration_setting(value: timedelta) -> str:
    """A duration as a config file would write it: ``6h``, ``24h``, ``90d``, ``45s``
    (the largest unit that divides it, days only from two days on, as people say 24h)."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size * (2 if unit == "d" else 1) and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


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


def parse_text(value: Any) -> str:
    """A non-empty string, stripped (every text value of the config file)."""
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


def parse_choice(kind: type[E]) -> Callable[[Any], E]:
    """A parser of one of ``kind``'s values, in any case."""

    def parse(value: Any) -> E:
        word = parse_text(value).lower()
        try:
            return kind(word)
        except ValueError:
            raise ValueError(" or ".join(f"'{item.value}'" for item in kind)) from None

    return parse


def _path(value: Any) -> Path:
    return Path(parse_text(value))


def _shown(value: Any) -> Any:
    """A value as an error message repeats it: a ledger URL without its password."""
    return mask_ledger_url(value) if isinstance(value, str) and is_ledger_url(value) else value


def _ledger_location(value: Any) -> Path | LedgerUrl:
    """A ledger file's path, or a PostgreSQL URL (never with a password in it)."""
    text = parse_text(value)
    return LedgerUrl(text.strip()) if is_ledger_url(text) else Path(text)


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: its type (``T``), default, and names on the command line, in the
    environment and in the file. Declared as a field of :class:`Settings` with :func:`_setting`,
    which names it after the field."""

    name: str
    key: str
    """Config key; a dot means a table: ``folders.inbox`` is ``inbox`` under ``[folders]``."""
    env: str | None
    flag: str | None
    parse: Callable[[Any], T]
    """The typed value of a flag, variable or config value; ValueError saying what is expected."""
    default: T
    help: str
    is_path: bool = False
    """A relative path in the config file (and a default one, with a config file) is taken
    relative to the file's folder."""
    switch: bool = False
    """On the command line a flag without a value (``--retry-ambiguous``)."""


_SETTING = "lac_batch.setting"


def _setting(
    *,
    parse: Callable[[Any], T],
    default: T,
    help: str,
    key: str = "",
    env: str | None = None,
    flag: str | None = None,
    is_path: bool = False,
    switch: bool = False,
) -> T:
    """A field of :class:`Settings`; mypy checks ``parse`` and ``default`` against its type."""
    declared = Setting("", key, env, flag, parse, default, help, is_path, switch)
    return field(default=default, metadata={_SETTING: declared})


@dataclass(frozen=True)
class ConfigFile:
    """A parsed ``lac-batch.toml``: flat values by dotted key, and the line each came from."""

    path: Path
    values: dict[str, Any]
    lines: dict[str, int]
    tables: dict[str, Any] = field(default_factory=dict)
    """Whole tables kept for other readers (``notify``)."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting's typed value, and where it came from (``flag --rate``, ``env LAC_RATE``, …).

    ``Settings()`` is every default; :func:`resolve_settings` builds it from flags, the
    environment and the config file.
    """

    base_url: str = _setting(
        env=BASE_URL_ENV,
        flag="--base-url",
        parse=parse_text,
        default=PRODUCTION_BASE_URL,
        help="API base URL (note the /portal path)",
    )
    api_key_env: str = _setting(
        key="api_key.env",
        parse=parse_text,
        default=API_KEY_ENV,
        help="name of the environment variable that holds the API key",
    )
    api_key_file: Path | None = _setting(
        key="api_key.file",
        env="LAC_API_KEY_FILE",
        flag="--api-key-file",
        parse=_path,
        default=None,
        help="file holding only the API key (refused if others can read it, on POSIX)",
        is_path=True,
    )
    keys_file: Path | None = _setting(
        env="LAC_KEYS_FILE",
        flag="--keys-file",
        parse=_path,
        default=None,
        help="TOML file giving each customer_id its own API key (many companies in one sheet)",
        is_path=True,
    )
    account: str | None = _setting(
        env="LAC_ACCOUNT",
        flag="--account",
        parse=parse_text,
        default=None,
        help="account name in the ledger (default: a hash of the API key)",
    )
    rate: float = _setting(
        env="LAC_RATE",
        flag="--rate",
        parse=_positive_float,
        default=5.0,
        help="requests started per second, at most",
    )
    concurrency: Concurrency = _setting(
        env="LAC_CONCURRENCY",
        flag="--concurrency",
        parse=parse_concurrency,
        default=AUTO,
        help="requests in flight, at most: a number, or auto (about rate times latency, up to "
        f"{MAX_CONCURRENCY})",
    )
    timeout: float = _setting(
        env="LAC_TIMEOUT",
        flag="--timeout",
        parse=_positive_float,
        default=30.0,
        help="seconds to connect, and for one whole answer once the request starts being written",
    )
    max_attempts: int = _setting(
        env="LAC_MAX_ATTEMPTS",
        flag="--max-attempts",
        parse=_positive_int,
        default=5,
        help="attempts per row for failures safe to retry",
    )
    max_wait: float = _setting(
        env="LAC_MAX_WAIT",
        flag="--max-wait",
        parse=_non_negative_float,
        default=900.0,
        help="seconds one row may wait after 429 and 503 answers in all, by the clock",
    )
    retry_ambiguous: bool = _setting(
        env="LAC_RETRY_AMBIGUOUS",
        flag="--retry-ambiguous",
        parse=_flag,
        default=False,
        help="resend after ambiguous failures with the same Idempotency-Key",
        switch=True,
    )
    ca_bundle: Path | None = _setting(
        env="LAC_CA_BUNDLE",
        flag="--ca-bundle",
        parse=_path,
        default=None,
        help="PEM file of CA certificates instead of the system store",
        is_path=True,
    )
    ledger: Path | LedgerUrl | None = _setting(
        env="LAC_LEDGER",
        flag="--ledger",
        parse=_ledger_location,
        default=None,
        help="the ledger file, or a postgresql:// URL (default: the user's state directory)",
        is_path=True,
    )
    ledger_password_file: Path | None = _setting(
        key="ledger_password_file",
        parse=_path,
        default=None,
        help="file holding only the PostgreSQL ledger's password (refused if others can read it)",
        is_path=True,
    )
    ledger_tls: bool = _setting(
        key="ledger_tls",
        parse=_flag,
        default=True,
        help="false: reach a remote PostgreSQL ledger without checking its TLS certificate",
    )
    log_format: LogFormat = _setting(
        env="LAC_LOG_FORMAT",
        flag="--log-format",
        parse=parse_choice(LogFormat),
        default=LogFormat.TEXT,
        help="log and progress lines as text or json",
    )
    log_file: Path | None = _setting(
        env="LAC_LOG_FILE",
        flag="--log-file",
        parse=_path,
        default=None,
        help="also write log lines to this file, rotated at 10 MB, 5 kept",
        is_path=True,
    )
    lock_warn_after: timedelta = _setting(
        env="LAC_LOCK_WARN_AFTER",
        parse=parse_duration,
        default=timedelta(hours=6),
        help="run: exit 4 when another run has held the lock this long",
    )
    settle_seconds: float = _setting(
        env="LAC_SETTLE_SECONDS",
        parse=_non_negative_float,
        default=5.0,
        help="run: leave files changed in the last this many seconds for the next run",
    )
    poll_interval: float = _setting(
        env="LAC_POLL_INTERVAL",
        parse=_positive_float,
        default=60.0,
        help="run without --once: seconds between two looks at the inbox",
    )
    retry_failed_for: timedelta = _setting(
        env="LAC_RETRY_FAILED_FOR",
        parse=parse_duration,
        default=timedelta(hours=24),
        help="run and retry: resend rows failed because attempts ran out, for this long from "
        "their first attempt (0: off)",
    )
    inbox: Path = _setting(
        key="folders.inbox",
        env="LAC_INBOX",
        parse=_path,
        default=Path("inbox"),
        help="run: where spreadsheets are dropped",
        is_path=True,
    )
    archive: Path = _setting(
        key="folders.archive",
        env="LAC_ARCHIVE",
        parse=_path,
        default=Path("archive"),
        help="run: where processed inputs are moved",
        is_path=True,
    )
    results: Path = _setting(
        key="folders.results",
        env="LAC_RESULTS",
        parse=_path,
        default=Path("results"),
        help="run: where results files are written",
        is_path=True,
    )
    failed: Path = _setting(
        key="folders.failed",
        env="LAC_FAILED",
        parse=_path,
        default=Path("failed"),
        help="run: where unreadable inputs are moved, with a .error.txt",
        is_path=True,
    )

    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Setting name → where its value came from; empty for ``Settings()`` built by hand."""
    config: ConfigFile | None = field(default=None, compare=False)

    def value_of(self, setting: Setting[T]) -> T:
        """The value of one of :data:`SETTINGS` (for loops over the table)."""
        value: T = getattr(self, setting.name)
        return value

    def ledger_location(self) -> Path | LedgerUrl | None:
        """The named ledger (None: the default), a URL with the config's password file and TLS
        choice applied."""
        if isinstance(self.ledger, LedgerUrl):
            return self.ledger.with_password_file(self.ledger_password_file, tls=self.ledger_tls)
        return self.ledger

    def submit_settings(self) -> SubmitSettings:
        """What the sending engine takes of these settings; it has no defaults of its own."""
        # Imported here: the engine brings httpx, which reading settings (and --help) does not need.
        from lac_batch.sending.engine import SubmitSettings

        return SubmitSettings(
            rate=self.rate,
            concurrency=self.concurrency,
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            max_wait=self.max_wait,
            retry_ambiguous=self.retry_ambiguous,
        )


def _named(item: Field[Any]) -> Setting[Any]:
    declared: Setting[Any] = item.metadata[_SETTING]
    return replace(declared, name=item.name, key=declared.key or item.name)


SETTINGS: tuple[Setting[Any], ...] = tuple(
    _named(item) for item in fields(Settings) if _SETTING in item.metadata
)
_PARSERS = {setting.key: setting.parse for setting in sorted(SETTINGS, key=lambda s: s.key)}
"""Every config key of the main tables, in the order an unknown key's message lists them."""
_TABLES = {"api_key", "folders", "notify", "columns", "profiles"}
"""Tables a config file may have. ``notify`` is read by the notification settings, ``columns``
and ``profiles`` by :mod:`lac_batch.settings.columns`."""
_WHOLE_TABLES = ("notify", "columns", "profiles")
"""Tables kept whole in :attr:`ConfigFile.tables` for their own readers."""


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
        # A quoted key may hold any character ("Pyyntö" = …, a column name).
        assignment = re.match(r'("[^"]*"|[A-Za-z0-9_\-]+)\s*=', stripped)
        if assignment:
            key = assignment.group(1).strip('"')
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


def _nearest(name: str, known: list[str]) -> str | None:
    """The known key closest to a mistyped one (``rat`` → ``rate``), if any is close."""
    # Imported here: only a config file with an unknown key needs it.
    from rapidfuzz import fuzz, process, utils

    found = process.extractOne(
        name, known, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=75
    )
    return None if found is None else str(found[0])


class KeyChecker:
    """Checks the tables of one config file, collecting every problem, each naming its key and
    line: the main table here, ``[notify]`` in :mod:`lac_batch.notify.settings`."""

    def __init__(self, path: Path, lines: Mapping[str, int]) -> None:
        self.path = path
        self.lines = lines
        self.problems: list[str] = []

    def where(self, key: str) -> str:
        # A key without a line of its own (an inline table) is reported at its table's line.
        parts = key.split(".")
        for end in range(len(parts), 0, -1):
            line = self.lines.get(".".join(parts[:end]))
            if line is not None:
                return f"line {line}"
        return "line ?"

    def problem(self, key: str, text: str) -> None:
        self.problems.append(f"{self.where(key)}: {text}")

    def values(
        self, table: Mapping[str, Any], prefix: str, known: Mapping[str, Callable[[Any], Any]]
    ) -> dict[str, Any]:
        """The values of ``table`` whose key is ``known``, each parsed; the rest are problems.

        ``prefix``: the table's dotted name ("" for the top level), for messages.
        """
        checked: dict[str, Any] = {}
        for name, value in table.items():
            key = f"{prefix}.{name}" if prefix else name
            parse = known.get(name)
            if parse is None:
                names = ", ".join(f"{prefix}.{item}" if prefix else item for item in known)
                nearest = _nearest(name, list(known))
                if nearest and prefix:
                    nearest = f"{prefix}.{nearest}"
                hint = f"; did you mean '{nearest}'?" if nearest else ""
                self.problem(key, f"unknown key '{key}'{hint} (known keys: {names})")
                continue
            try:
                checked[name] = parse(value)
            except ValueError as error:
                self.problem(key, f"'{key}' must be {error}, not {_shown(value)!r}")
        return checked

    def raise_problems(self) -> None:
        """One ConfigError naming the file and every problem found, if there were any."""
        if self.problems:
            raise ConfigError(f"{self.path}: " + "; ".join(self.problems) + ".")


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


def load_config(path: Path, *, partial: bool = False) -> ConfigFile:
    """Read and check ``path``: unknown keys and wrong types are errors naming key and line.

    ``partial``: keep the values that are right and leave out the rest, for a caller that only
    wants what can be used of a file that did not load (to tell someone it did not).
    """
    data, text = read_toml(path, "config file")
    lines = key_lines(text)
    checker = KeyChecker(path, lines)
    tables = {name: data[name] for name in _WHOLE_TABLES if isinstance(data.get(name), dict)}
    main = {
        key: value
        for key, value in _flatten(data).items()
        if not key.startswith(tuple(f"{name}." for name in _WHOLE_TABLES))
    }
    values = checker.values(main, "", _PARSERS)
    if not partial:
        checker.raise_problems()
    return ConfigFile(path, values, lines, tables)


def find_config_path(flag_value: Path | None, environ: Mapping[str, str]) -> Path | None:
    """``--config`` > ``LAC_BATCH_CONFIG`` > none."""
    if flag_value is not None:
        return flag_value
    configured = environ.get(CONFIG_ENV)
    return Path(configured) if configured else None


def resolve_settings(
    flags: Mapping[str, Any],
    config: ConfigFile | None,
    environ: Mapping[str, str] | None = None,
    *,
    partial: bool = False,
) -> Settings:
    """Apply flag > environment > config file > default to every setting.

    ``flags`` maps setting names to command-line values (None or False: not given). Relative
    paths in the config file are taken relative to the file's folder, so a scheduled job finds
    them whatever its working directory. A value that cannot be used is a UsageError naming its
    flag or variable; with ``partial`` it is passed over for the next source instead.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        values[setting.name], sources[setting.name] = _resolve(
            setting, flags, config, environ, partial
        )
    return Settings(**values, sources=MappingProxyType(sources), config=config)


def _resolve(
    setting: Setting[T],
    flags: Mapping[str, Any],
    config: ConfigFile | None,
    environ: Mapping[str, str],
    partial: bool,
) -> tuple[T, str]:
    """One setting's value and where it came from."""
    flag_value = flags.get(setting.name)
    if flag_value is not None and flag_value is not False:
        try:
            return setting.parse(flag_value), f"flag {setting.flag}"
        except ValueError as error:
            if not partial:
                raise UsageError(
                    f"{setting.flag} must be {error}, not {_shown(flag_value)!r}."
                ) from None
    env_value = environ.get(setting.env) if setting.env else None
    if env_value:
        try:
            return setting.parse(env_value), f"env {setting.env}"
        except ValueError as error:
            if not partial:
                raise UsageError(
                    f"the environment variable {setting.env} must be {error}, "
                    f"not {_shown(env_value)!r}."
                ) from None
    if config is not None and setting.key in config.values:
        value: T = config.values[setting.key]
        where = f"config {config.path}:{config.lines.get(setting.key, '?')}"
        return _in_folder_of(config, setting, value), where
    default = setting.default
    if config is not None:
        default = _in_folder_of(config, setting, default)
    return default, "default"


def _in_folder_of(config: ConfigFile, setting: Setting[T], value: T) -> T:
    """A relative path of the config file (or a default one) is relative to the file's folder."""
    if setting.is_path and isinstance(value, Path) and not value.is_absolute():
        return cast(T, config.path.parent / value)
    return value
