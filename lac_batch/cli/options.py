"""The command-line side of :mod:`lac_batch.settings.config`: one flag per setting, resolved the
same way for every command (flag > environment > config file > default)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from lac_batch.cli.help import SettingOption
from lac_batch.sending.credentials import (
    API_KEY_ENV,
    ApiKey,
    check_base_url,
    check_key_destination,
    load_api_key,
)
from lac_batch.settings.config import (
    CONFIG_ENV,
    SETTINGS,
    LogFormat,
    Settings,
    find_config_path,
    load_config,
    resolve_settings,
)
from lac_batch.settings.keys_file import KeysFile, load_keys_file

if TYPE_CHECKING:
    # Imported where used: it brings pandas and pandera, which --help must not load.
    from lac_batch.jobs.submit import SubmitOptions

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

P = ParamSpec("P")
R = TypeVar("R")

# Click types for the flags; the values are parsed again by the setting itself, so the same
# rules hold for a flag, an environment variable and a config value.
_FLAG_TYPES: dict[str, Any] = {
    "rate": click.FloatRange(min=0.01),
    "timeout": click.FloatRange(min=0.1),
    "max_attempts": click.IntRange(min=1),
    "max_wait": click.FloatRange(min=0),
    "log_format": click.Choice([item.value for item in LogFormat]),
    # A file's path or a postgresql:// URL (a path type would fold its "//").
    "ledger": click.STRING,
}


def config_option(command: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"The lac-batch.toml to read (default: ${CONFIG_ENV}).",
    )(command)


def setting_options(*names: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Add the flags of the named settings (all with a flag, if none are named)."""
    chosen = [
        setting for setting in SETTINGS if setting.flag and (not names or setting.name in names)
    ]

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        for setting in reversed(chosen):
            assert setting.flag is not None
            text = setting.help[0].upper() + setting.help[1:] + "."
            text += _MORE_HELP.get(setting.name, "")
            shown = {
                "cls": SettingOption,
                "envvar": setting.env,
                "show_envvar": setting.env is not None,
                "shown_default": _shown_default(setting.default),
            }
            if setting.switch:
                option = click.option(setting.flag, setting.name, is_flag=True, help=text, **shown)
            else:
                kind = _FLAG_TYPES.get(setting.name)
                if setting.is_path and kind is None:
                    kind = click.Path(path_type=Path, dir_okay=False)
                option = click.option(setting.flag, setting.name, type=kind, help=text, **shown)
            command = option(command)
        return command

    return decorate


# What a setting's own help cannot say: where else its value may come from.
_MORE_HELP = {
    "api_key_file": f" Without it, the key is read from ${API_KEY_ENV}.",
    "base_url": " The default is the production API.",
}


def _shown_default(default: object) -> str | None:
    """A setting's default as help shows it; None when there is nothing to show."""
    if default is None or default is False or default == "":
        return None
    if isinstance(default, timedelta):
        return f"{default.total_seconds():g} s"
    return str(default)


def effective_settings(
    config_path: Path | None, flags: Mapping[str, Any], *, partial: bool = False
) -> Settings:
    """Load the config file (if any) and resolve every setting; UsageError on bad values.

    ``partial``: what can be used of settings that did not load, each value that cannot be
    used passed over (see :func:`~lac_batch.settings.config.resolve_settings`); a config file
    that cannot be read or is not TOML is still a ConfigError.
    """
    path = find_config_path(config_path, os.environ)
    config = load_config(path, partial=partial) if path is not None else None
    given = {
        name: (str(value) if isinstance(value, Path) else value) for name, value in flags.items()
    }
    return resolve_settings(given, config, partial=partial)


def load_key(settings: Settings) -> ApiKey:
    return load_api_key(settings.api_key_file, env_name=settings.api_key_env)


def load_credentials(settings: Settings) -> tuple[ApiKey, KeysFile | None]:
    """The run's one key, or with a keys file every company's key (and an unused blank)."""
    if settings.keys_file is not None:
        return ApiKey(""), load_keys_file(settings.keys_file)
    return load_key(settings), None


def secrets_of(key: ApiKey, company_keys: KeysFile | None) -> list[str]:
    """Every key in use, for scrubbing log lines."""
    keys = company_keys.keys if company_keys is not None else [key]
    return [item.reveal() for item in keys if item.reveal()]


def submit_options_from(
    settings: Settings,
    key: ApiKey,
    *,
    embedded_sandbox: bool = False,
    destination_checked_later: bool = False,
    **choices: Any,
) -> SubmitOptions:
    """SubmitOptions from resolved settings plus per-run choices (dry_run, force, …).

    A base URL that cannot be used, or a sandbox key aimed away from this machine, is a
    UsageError here, before anything is read or sent. ``embedded_sandbox``: the URL is replaced
    by the embedded sandbox's own (on this machine), so its key may go there.
    ``destination_checked_later``: the configured base URL is not where requests go (``retry``
    sends each record where it was recorded, and checks the key there).
    """
    from lac_batch.jobs.submit import SubmitOptions

    base_url = check_base_url(settings.base_url, settings.sources["base_url"])
    company_keys: KeysFile | None = choices.get("company_keys")
    if not embedded_sandbox and not destination_checked_later:
        keys = (
            [(entry.account, entry.key) for entry in company_keys.by_customer.values()]
            if company_keys is not None
            else [("", key)]
        )
        check_key_destination(base_url, keys)
    return SubmitOptions(
        base_url=base_url,
        api_key=key,
        settings=settings.submit_settings(),
        ca_bundle=settings.ca_bundle,
        account=settings.account,
        **choices,
    )
