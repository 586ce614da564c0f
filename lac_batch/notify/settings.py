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

# Shared with the rest of the config file and the base URL, so that a key's line, a text value
# and "this machine" mean the same here.
from lac_batch.settings.config import ConfigFile, KeyChecker, parse_choice, parse_text

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

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
    RESULTS_NOT_WRITTEN = "on_results_not_written"


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


def _webhook_url(value: Any) -> str:
    url = parse_text(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError("an https:// URL (plain http only to this machine)")
    return url


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError("a port number from 1 to 65535")
    return value


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_name(value: Any) -> str:
    name = parse_text(value)
    if not _ENV_NAME.fullmatch(name):
        raise ValueError("the name of an environment variable (letters, digits, _)")
    return name


def _address(value: Any) -> str:
    text = parse_text(value)
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
    "webhook_format": parse_choice(WebhookFormat),
}
_EMAIL_KEYS: dict[str, Callable[[Any], Any]] = {
    "host": parse_text,
    "port": _port,
    "security": parse_choice(Security),
    "user": parse_text,
    "password_env": _env_name,
    "password_file": parse_text,
    "from": _address,
    "to": _addresses,
}
_REQUIRED_EMAIL_KEYS = ("host", "from", "to")


def _email(table: Any, checker: KeyChecker, folder: Path) -> EmailSettings | None:
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
    checker = KeyChecker(config_path, lines)
    if not isinstance(table, dict):
        checker.problem("notify", "'notify' must be a table ([notify])")
        checker.raise_problems()
    email_table = table.get("email")
    values = checker.values(
        {name: value for name, value in table.items() if name != "email"}, "notify", _NOTIFY_KEYS
    )
    email = None if email_table is None else _email(email_table, checker, config_path.parent)
    checker.raise_problems()
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
