"""``lac-batch run`` (the inbox, for schedulers) and ``lac-batch config check``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from lac_batch.cli.common import guarded
from lac_batch.cli.notify import notify_cannot_start, run_notifier
from lac_batch.cli.options import (
    config_option,
    effective_settings,
    load_credentials,
    load_key,
    secrets_of,
    setting_options,
    submit_options_from,
)
from lac_batch.cli.wording import inbox_name
from lac_batch.files.inbox import Folders
from lac_batch.jobs.inbox_pass import run_pass
from lac_batch.jobs.run_log import RunLog, setup_run_log
from lac_batch.ledger.store import default_ledger_path, ensure_ledger_folder
from lac_batch.model.errors import LacBatchError
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.stopping import stop_signals, stoppable
from lac_batch.model.wording import naming
from lac_batch.notify.notifier import Notifier
from lac_batch.notify.settings import load_notify_settings
from lac_batch.settings.config import SETTINGS, Settings
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


def folders_of(settings: Settings) -> Folders:
    return Folders(
        inbox=settings.inbox,
        archive=settings.archive,
        results=settings.results,
        failed=settings.failed,
    )


@click.command("run")
@config_option
@click.option("--once", is_flag=True, help="One pass over the inbox, then exit (for cron).")
@setting_options()
@guarded
@stoppable
def run_command(config_path: Path | None, once: bool, **flags: Any) -> None:
    """Submit every spreadsheet dropped in the inbox folder; for schedulers.

    Exit code 0: every file accepted/skipped, or nothing to do; 1: some row or file not OK;
    2: the run could not start; 3: an API key was refused; 4: the lock was held longer than
    lock_warn_after; 5: rows were sent but a results file, or the ledger's record of their
    run, could not be written; 130: interrupted.
    """
    with naming(inbox_name):
        _run_command(config_path, once, flags)


def _run_command(config_path: Path | None, once: bool, flags: dict[str, Any]) -> None:
    try:
        settings = effective_settings(config_path, flags)
        notify = load_notify_settings(settings.config)
        key, company_keys = load_credentials(settings)
        options = submit_options_from(settings, key, company_keys=company_keys)
    except LacBatchError as error:
        notify_cannot_start("run", config_path, flags, error)
        raise
    log = setup_run_log(
        settings.log_format, settings.log_file, secrets=secrets_of(key, company_keys)
    )
    notifier = run_notifier(settings, notify, secrets_of(key, company_keys), log)
    try:
        sys.exit(int(_run(settings, options, log, once, notifier)))
    finally:
        log.close()


def _run(settings: Settings, options: Any, log: RunLog, once: bool, notifier: Notifier) -> ExitCode:
    folders = folders_of(settings)
    named_ledger = settings.ledger_location()
    ledger_path = named_ledger or default_ledger_path()
    with stop_signals() as stop:
        while True:
            try:
                if not isinstance(ledger_path, LedgerUrl):
                    ensure_ledger_folder(ledger_path, create=named_ledger is None)
                outcome = run_pass(
                    folders=folders,
                    options=options,
                    ledger_path=ledger_path,
                    lock_warn_after_s=settings.lock_warn_after.total_seconds(),
                    settle_seconds=settings.settle_seconds,
                    log=log,
                    stop=stop,
                )
            except LacBatchError as error:
                log.error("run_failed", str(error))
                notifier.after_run_failure(error)
                return error.exit_code
            notifier.after_pass(outcome)
            if (
                once
                or stop.is_set()
                or outcome.exit_code
                in (
                    ExitCode.INTERRUPTED,
                    ExitCode.AUTH_REFUSED,
                )
            ):
                return ExitCode.INTERRUPTED if stop.is_set() else outcome.exit_code
            if stop.wait(settings.poll_interval):
                return ExitCode.INTERRUPTED


@click.group("config")
def config_group() -> None:
    """Check the configuration."""


@config_group.command("check")
@config_option
@guarded
def check_command(config_path: Path | None) -> None:
    """Validate the config file and print every effective setting and where it came from."""
    settings = effective_settings(config_path, {})
    notify = load_notify_settings(settings.config)
    source = settings.config.path if settings.config is not None else "none"
    click.echo(f"Config file: {source}")
    width = max(len(setting.name) for setting in SETTINGS)
    for setting in SETTINGS:
        value = settings.value_of(setting)
        shown = "(not set)" if value is None else str(value)
        click.echo(f"  {setting.name:<{width}}  {shown}  [{settings.sources[setting.name]}]")
    try:
        key = load_key(settings)
    except LacBatchError as error:
        click.echo(f"  {'api key':<{width}}  (not usable: {error})")
    else:
        click.echo(f"  {'api key':<{width}}  {key.masked()}")
    if settings.config is not None and "notify" in settings.config.tables:
        for line in notify.describe():
            click.echo(line)
