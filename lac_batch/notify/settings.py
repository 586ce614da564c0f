"""The ``[notify]`` table of ``lac-batch.toml``: which triggers are on, and where messages go.

:func:`parse_notify` checks the table the way :func:`lac_batch.settings.config.load_config`
checks the rest of the file: unknown keys and wrong types are errors naming the key and its
line. The table is optional; without a webhook or an email target nothing is ever sent.

    [notify]
    on_rows = true            # a file with rows rejected, failed or unknown
    on_invalid = true         # a file with invalid rows (never sent)
    on_failed_file = true     # a file moved to failed/
    on_auth = true            # an API key was refused (exit 3)
    on_cannot_start = true    # lock held too long, config error, unusable ledger or base URL
    on_new_ledger = true      # a run created a new, empty ledger (told once)
    webhook_url = "https://hooks.slack.com/services/…"
    webhook_format = "slack"  # or "teams" (an Adaptive Card, for Teams workflows)

    [notify.email]
    host = "smtp.example.fi"
    port = 587                # default: 587 starttls, 465 tls, 25 none
    security = "starttls"     # or "tls", "none"
    user = "lac-batch"
    password_env = "LAC_SMTP_PASSWORD"   # or password_file = "/etc/lac-batch/smtp-password"
    from = "lac-batch@example.fi"
    to = ["ops@example.fi"]
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lac_batch.model.errors import UsageError
from lac_batch.model.wording import Option, option_name
from lac_batch.sending.credentials import is_loopback

# Two private helpers, used as they are so that a key's line and "this machine" mean the same
# here as for the rest of the config file and the base URL.
from lac_batch.settings.config import ConfigError, ConfigFile, key_lines

__all__ = [
    "DEFAULT_PORTS",
    "DELIVERY_TIMEOUT_S",
    "EmailSettings",
    "NotifySettings",
    "RawConfig",
    "Security",
    "Trigger",
    "WebhookFormat",
    "WebhookSettings",
    "load_notify_settings",
    "parse_notify",
    "read_raw_config",
]

DELIVERY_TIMEOUT_S = 10.0
"""Seconds one delivery may take: a notification must never hold up a scheduled run for long."""


class Trigger(StrEnum):
    """What may cause a notification; each is a switch in ``[notify]``, all on by default."""

    ROWS = "on_rows"
    INVALID = "on_invalid"
    FAILED_FILE = "on_failed_file"
    AUTH = "on_auth"
    CANNOT_START = "on_cannot_start"
    NEW_LEDGER = "on_new_ledger"


class Security(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


DEFAULT_PORTS = {Security.STARTTLS: 587, Security.TLS: 465, Security.NONE: 25}


class WebhookFormat(StrEnum):
    SLACK = "slack"
    """``text`` (Slack mrkdwn) and ``lac_batch`` (structured); Teams incoming webhooks read
    ``text`` too."""
    TEAMS = "teams"
    """The same, plus an Adaptive Card in ``attachments``, as Teams workflows require."""


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    format: WebhookFormat = WebhookFormat.SLACK

    @property
    def host(self) -> str:
        """Only the host: the rest of a webhook URL is its secret, so it is never shown."""
        return urlsplit(self.url).hostname or "?"


@dataclass(frozen=True)
class EmailSettings:
    host: str
    sender: str
    recipients: tuple[str, ...]
    security: Security = Security.STARTTLS
    port: int = DEFAULT_PORTS[Security.STARTTLS]
    user: str | None = None
    password_env: str | None = None
    password_file: Path | None = None

    def describe(self) -> str:
        login = "no login"
        if self.user is not None:
            source = (
                f"env {self.password_env}" if self.password_env else f"file {self.password_file}"
            )
            login = f"user {self.user}, password from {source}"
        return (
            f"{self.host}:{self.port} {self.security.value}, {login}, from {self.sender} "
            f"to {', '.join(self.recipients)}"
        )


@dataclass(frozen=True)
class NotifySettings:
    """The checked ``[notify]`` table; the default sends nothing (it has no targets)."""

    triggers: frozenset[Trigger] = field(default_factory=lambda: frozenset(Trigger))
    webhook: WebhookSettings | None = None
    email: EmailSettings | None = None

    @property
    def has_targets(self) -> bool:
        return self.webhook is not None or self.email is not None

    def enabled(self, trigger: Trigger) -> bool:
        return trigger in self.triggers

    def with_flags(self, webhook_url: str | None, email_to: Sequence[str]) -> NotifySettings:
        """``submit --notify-webhook URL --notify-email TO``: a flag replaces the file's value."""
        chosen = self
        if webhook_url is not None:
            try:
                url = _webhook_url(webhook_url)
            except ValueError as error:
                raise UsageError(f"{option_name(Option.NOTIFY_WEBHOOK)} must be {error}.") from None
            webhook = self.webhook or WebhookSettings(url)
            chosen = replace(chosen, webhook=replace(webhook, url=url))
        if email_to:
            if self.email is None:
                raise UsageError(
                    f"{option_name(Option.NOTIFY_EMAIL)} needs the SMTP server: give it in "
                    "[notify.email] of the config file (host, port, security, user, password_env "
                    "or password_file, from)."
                )
            try:
                recipients = _addresses(list(email_to))
            except ValueError as error:
                raise UsageError(f"{option_name(Option.NOTIFY_EMAIL)} must be {error}.") from None
            chosen = replace(chosen, email=replace(self.email, recipients=recipients))
        return chosen

    def describe(self) -> list[str]:
        """Lines for ``config check``: targets (a webhook by its host only) and triggers."""
        if not self.has_targets:
            return ["Notifications: none (no webhook_url or [notify.email])"]
        lines = ["Notifications:"]
        if self.webhook is not None:
            lines.append(f"  webhook  {self.webhook.host} ({self.webhook.format.value})")
        if self.email is not None:
            lines.append(f"  email    {self.email.describe()}")
        on = [trigger.value for trigger in Trigger if trigger in self.triggers]
        lines.append(f"  triggers {', '.join(on) or 'none'}")
        return lines


# --- checking values -----------------------------------------------------------------------


def _switch(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value.strip()


def _webhook_url(value: Any) -> str:
    url = _text(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError("an https:// URL (plain http only to this machine)")
    return url


def _choice(kind: type[StrEnum]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        word = _text(value).lower()
        try:
            return kind(word)
        except ValueError:
            raise ValueError(" or ".join(f"'{item.value}'" for item in kind)) from None

    return check


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError("a port number from 1 to 65535")
    return value


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_name(value: Any) -> str:
    name = _text(value)
    if not _ENV_NAME.fullmatch(name):
        raise ValueError("the name of an environment variable (letters, digits, _)")
    return name


def _address(value: Any) -> str:
    text = _text(value)
    _, address = parseaddr(text)
    if "@" not in address or any(character in address for character in " ,;"):
        raise ValueError("an email address")
    return text


def _addresses(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError("an email address or a list of them")
    return tuple(_address(item) for item in items)


_NOTIFY_KEYS: dict[str, Callable[[Any], Any]] = {
    **{trigger.value: _switch for trigger in Trigger},
    "webhook_url": _webhook_url,
    "webhook_format": _choice(WebhookFormat),
}
_EMAIL_KEYS: dict[str, Callable[[Any], Any]] = {
    "host": _text,
    "port": _port,
    "security": _choice(Security),
    "user": _text,
    "password_env": _env_name,
    "password_file": _text,
    "from": _address,
    "to": _addresses,
}
_REQUIRED_EMAIL_KEYS = ("host", "from", "to")


class _Checker:
    """Collects every problem of the table, each naming its key and line, like load_config."""

    def __init__(self, lines: Mapping[str, int]) -> None:
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
        checked: dict[str, Any] = {}
        for name, value in table.items():
            key = f"{prefix}.{name}"
            check = known.get(name)
            if check is None:
                names = ", ".join(f"{prefix}.{item}" for item in known)
                self.problem(key, f"unknown key '{key}' (known keys: {names})")
                continue
            try:
                checked[name] = check(value)
            except ValueError as error:
                self.problem(key, f"'{key}' must be {error}, not {value!r}")
        return checked


def _email(table: Any, checker: _Checker, folder: Path) -> EmailSettings | None:
    if not isinstance(table, dict):
        checker.problem("notify.email", "'notify.email' must be a table ([notify.email])")
        return None
    values = checker.values(table, "notify.email", _EMAIL_KEYS)
    count = len(checker.problems)
    for name in _REQUIRED_EMAIL_KEYS:
        if name not in table:
            checker.problem("notify.email", f"[notify.email] needs '{name}'")
    if "password_env" in table and "password_file" in table:
        checker.problem(
            "notify.email.password_file",
            "give 'notify.email.password_env' or 'notify.email.password_file', not both",
        )
    has_password = "password_env" in table or "password_file" in table
    if has_password != ("user" in table):
        checker.problem(
            "notify.email",
            "[notify.email] needs 'user' and one of 'password_env' or 'password_file' together",
        )
    security = values.get("security", Security.STARTTLS)
    host = values.get("host", "")
    if "user" in values and security is Security.NONE and not is_loopback(host):
        checker.problem(
            "notify.email.security",
            "security = 'none' would send the SMTP password unencrypted; use 'starttls' or "
            "'tls' (plain only to this machine)",
        )
    if len(checker.problems) > count or not set(_REQUIRED_EMAIL_KEYS) <= set(values):
        return None
    password_file = values.get("password_file")
    return EmailSettings(
        host=host,
        sender=values["from"],
        recipients=values["to"],
        security=security,
        port=values.get("port", DEFAULT_PORTS[security]),
        user=values.get("user"),
        password_env=values.get("password_env"),
        password_file=None if password_file is None else folder / password_file,
    )


def parse_notify(table: Any, lines: Mapping[str, int], config_path: Path) -> NotifySettings:
    """Check a raw ``[notify]`` table (None: absent); ConfigError naming every bad key's line.

    A relative ``password_file`` is taken relative to the config file's folder.
    """
    if table is None:
        return NotifySettings()
    checker = _Checker(lines)
    if not isinstance(table, dict):
        checker.problem("notify", "'notify' must be a table ([notify])")
        raise ConfigError(f"{config_path}: " + "; ".join(checker.problems) + ".")
    email_table = table.get("email")
    values = checker.values(
        {name: value for name, value in table.items() if name != "email"}, "notify", _NOTIFY_KEYS
    )
    email = None if email_table is None else _email(email_table, checker, config_path.parent)
    if checker.problems:
        raise ConfigError(f"{config_path}: " + "; ".join(checker.problems) + ".")
    webhook = None
    if "webhook_url" in values:
        webhook = WebhookSettings(
            values["webhook_url"], values.get("webhook_format", WebhookFormat.SLACK)
        )
    triggers = frozenset(trigger for trigger in Trigger if values.get(trigger.value, True))
    return NotifySettings(triggers, webhook, email)


def load_notify_settings(config: ConfigFile | None) -> NotifySettings:
    """The ``[notify]`` table of a loaded config file, checked; no file: no notifications."""
    if config is None:
        return NotifySettings()
    return parse_notify(config.tables.get("notify"), config.lines, config.path)


@dataclass(frozen=True)
class RawConfig:
    """What can be read of a config file that did not load: its notify table and ledger."""

    notify: NotifySettings
    ledger: str | None
    api_key_env: str | None


def read_raw_config(path: Path) -> RawConfig | None:
    """Read only ``[notify]`` (and ``ledger``, ``api_key.env``) of a file that failed to load.

    None if the file cannot be read, is not TOML, or its ``[notify]`` table has errors: then a
    config error can only be logged.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = tomllib.loads(text)
        notify = parse_notify(data.get("notify"), key_lines(text), path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ConfigError):
        return None
    ledger = data.get("ledger")
    api_key = data.get("api_key")
    key_env = api_key.get("env") if isinstance(api_key, dict) else None
    return RawConfig(
        notify,
        ledger if isinstance(ledger, str) and ledger.strip() else None,
        key_env if isinstance(key_env, str) and key_env.strip() else None,
    )
