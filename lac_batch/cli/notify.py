"""``lac-batch notify test``, and the notifications ``run`` and ``submit`` send."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lac_batch.cli.common import guarded
from lac_batch.cli.help import LacGroup
from lac_batch.cli.options import config_option, effective_settings
from lac_batch.jobs.run_log import RunLog
from lac_batch.ledger.store import default_ledger_path
from lac_batch.model.errors import ConfigError, UsageError
from lac_batch.notify.message import compose_test
from lac_batch.notify.settings import NotifySettings, load_notify_settings
from lac_batch.notify.targets import targets_of
from lac_batch.sending.credentials import API_KEY_ENV
from lac_batch.settings.config import Settings

if TYPE_CHECKING:
    # Imported where used: it brings pandas, which --help must not load.
    from lac_batch.notify.notifier import Notifier

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


def _warn(line: str) -> None:
    click.echo(f"Warning: {line}", err=True)


def run_notifier(
    settings: Settings, notify: NotifySettings, secrets: Sequence[str], log: RunLog
) -> Notifier:
    """The notifier of ``lac-batch run``: warnings go to the run's log."""
    from lac_batch.notify.notifier import Notifier

    return Notifier(
        notify,
        command="run",
        state_path=settings.ledger_location() or default_ledger_path(),
        secrets=secrets,
        warn=lambda line: log.warning("notify_failed", line),
        ca_bundle=settings.ca_bundle,
    )


def submit_notifier(
    settings: Settings,
    webhook_url: str | None,
    email_to: Sequence[str],
    secrets: Sequence[str],
    *,
    sandbox: bool,
) -> Notifier:
    """The notifier of ``lac-batch submit``: ``[notify]`` of the config file, flags replacing.

    With ``--sandbox`` the ledger is a throwaway one, so no state is kept.
    """
    from lac_batch.notify.notifier import Notifier

    notify = load_notify_settings(settings.config).with_flags(webhook_url, email_to)
    return Notifier(
        notify,
        command="submit",
        state_path=None if sandbox else settings.ledger_location() or default_ledger_path(),
        secrets=secrets,
        warn=_warn,
        ca_bundle=settings.ca_bundle,
    )


def notify_cannot_start(
    command: str, config_path: Path | None, flags: Mapping[str, Any], error: Exception
) -> None:
    """The settings could not be used: tell it if ``[notify]`` can be read on its own.

    Otherwise (no config file, not TOML, ``[notify]`` itself wrong) the error is only printed.
    The ledger for the state, and the key's variable, are the settings' values as far as they
    can be used (a value that cannot be used gives way to the next source).
    """
    from lac_batch.notify.notifier import Notifier

    try:
        settings = effective_settings(config_path, flags, partial=True)
        notify = load_notify_settings(settings.config)
    except ConfigError:
        return
    if not notify.has_targets:
        return
    # The key was not loaded; scrub whatever the environment holds under the usual names.
    key_names = {API_KEY_ENV, settings.api_key_env}
    Notifier(
        notify,
        command=command,
        state_path=settings.ledger_location() or default_ledger_path(),
        secrets=[os.environ.get(name, "") for name in key_names],
        warn=_warn,
    ).after_cannot_start(error)


@click.group("notify", cls=LacGroup)
def notify_group() -> None:
    """Notifications: check that messages reach every target."""


@notify_group.command("test")
@config_option
@guarded
def notify_test_command(config_path: Path | None) -> None:
    """Send a test message to every notification target of the config file.

    Exit code 0: every target took it; 1: some did not (each is named); 2: no targets, or the
    config file cannot be used.
    """
    from lac_batch.notify.notifier import deliver_all

    settings = effective_settings(config_path, {})
    notify = load_notify_settings(settings.config)
    if settings.config is None or not notify.has_targets:
        raise UsageError(
            "no notification targets: give webhook_url or [notify.email] in the [notify] table "
            "of lac-batch.toml (--config PATH or LAC_BATCH_CONFIG)."
        )
    message = compose_test(str(settings.config.path))
    outcomes = deliver_all(
        targets_of(notify, settings.ca_bundle), lambda target: target.deliver(message)
    )
    for target, error in outcomes:
        if error is None:
            click.echo(f"{target.name}: delivered")
        else:
            click.echo(f"Not delivered: {error}", err=True)
    failed = [target.name for target, error in outcomes if error is not None]
    if failed:
        summary = f"{len(failed)} of {len(outcomes)} targets failed: {'; '.join(failed)}"
        click.echo(summary, err=True)
        sys.exit(1)
