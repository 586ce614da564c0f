"""``lac-batch run`` (the inbox, for schedulers) and ``lac-batch config check``."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lac_batch.cli.common import guarded
from lac_batch.cli.help import LacCommand, LacGroup
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
from lac_batch.files.reader import SUFFIX_FORMATS
from lac_batch.jobs.inbox_pass import run_pass
from lac_batch.jobs.retry import Clock
from lac_batch.jobs.run_log import RunLog, setup_run_log
from lac_batch.ledger.store import default_ledger_path, ensure_ledger_folder
from lac_batch.model.errors import LacBatchError
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.stopping import stop_signals, stoppable
from lac_batch.model.wording import naming
from lac_batch.notify.settings import load_notify_settings
from lac_batch.rows.validation import read_requests
from lac_batch.settings.columns import column_setup, configured_columns
from lac_batch.settings.config import SETTINGS, Settings, duration_setting
from lac_batch.settings.ledger_url import LedgerUrl

if TYPE_CHECKING:
    # Imported where used: it brings pandas, which --help must not load.
    from lac_batch.notify.notifier import Notifier

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


def folders_of(settings: Settings) -> Folders:
    return Folders(
        inbox=settings.inbox,
        archive=settings.archive,
        results=settings.results,
        failed=settings.failed,
    )


@click.command("run", cls=LacCommand)
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
        options = submit_options_from(
            settings, key, company_keys=company_keys, columns=column_setup(settings.config)
        )
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
    clock = click.get_current_context().find_object(Clock)
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
                    retry_failed_for=settings.retry_failed_for,
                    clock=clock,
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


@click.group("config", cls=LacGroup)
def config_group() -> None:
    """Check the configuration."""


@config_group.command("check")
@config_option
@guarded
def check_command(config_path: Path | None) -> None:
    """Validate the config file and print every effective setting and where it came from.

    Exit code 0: a scheduled run could start with these settings; 2: something it needs is
    unusable (no usable API key, an inbox that does not exist, a ledger folder that cannot be
    written, a ledger database that cannot be reached), each named.
    """
    settings = effective_settings(config_path, {})
    notify = load_notify_settings(settings.config)
    source = settings.config.path.resolve() if settings.config is not None else "none"
    click.echo(f"Config file: {source}")
    width = max(len(setting.name) for setting in SETTINGS)
    unusable: list[str] = []
    for setting in SETTINGS:
        value = settings.value_of(setting)
        if setting.name == "ledger" and value is None:
            value = default_ledger_path()
        shown = "(not set)" if value is None else str(_absolute(value))
        click.echo(f"  {setting.name:<{width}}  {shown}  [{settings.sources[setting.name]}]")
    try:
        if settings.keys_file is not None:
            load_credentials(settings)
            click.echo(f"  {'api key':<{width}}  (one per customer, from keys_file)")
        else:
            key = load_key(settings)
            click.echo(f"  {'api key':<{width}}  {key.masked()}")
    except LacBatchError as error:
        click.echo(f"  {'api key':<{width}}  (not usable: {error})")
        unusable.append(f"the API key: {error}")
    unusable.extend(_unusable_places(settings))
    if settings.config is not None and "notify" in settings.config.tables:
        for line in notify.describe():
            click.echo(line)
    _describe_columns(settings)
    if unusable:
        for problem in unusable:
            click.echo(f"Not usable: {problem}", err=True)
        sys.exit(int(ExitCode.UNUSABLE))


def _absolute(value: object) -> object:
    if isinstance(value, timedelta):
        return duration_setting(value)
    return value.resolve() if isinstance(value, Path) else value


def _unusable_places(settings: Settings) -> list[str]:
    """The places a run needs that it could not use: the inbox, the ledger's folder (or, for
    a PostgreSQL ledger, its database: connected to, and nothing written)."""
    problems: list[str] = []
    # The inbox matters to `run`, which reads its folders from a config file.
    if settings.config is not None and not settings.inbox.is_dir():
        problems.append(f"the inbox {settings.inbox.resolve()} does not exist (folders.inbox).")
    named = settings.ledger_location()
    if isinstance(named, LedgerUrl):
        from lac_batch.ledger.backend import connect

        try:
            connect(named).close()
        except LacBatchError as error:
            problems.append(f"{error} (ledger)")
        return problems
    ledger = named or default_ledger_path()
    # The default ledger's folder is created on first use; a named one's must exist.
    folder = ledger.resolve().parent
    while settings.ledger is None and not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        problems.append(f"the ledger folder {folder} does not exist (ledger).")
    elif not os.access(folder, os.W_OK | os.X_OK):
        problems.append(f"the ledger folder {folder} cannot be written (ledger).")
    return problems


_FILES_CHECKED = 20
"""How many of the newest archived inputs ``config check`` reads for near misses."""


def _describe_columns(settings: Settings) -> None:
    """The [columns] mapping and each profile, then near misses in the inputs this set-up has
    read lately (submit and run refuse such a file until the column is mapped or ignored)."""
    columns, profiles = configured_columns(settings.config)
    if columns:
        click.echo("Columns ([columns], every file):")
        for entry in columns.entries:
            click.echo(f"  {entry.source} → {entry.target}")
    for profile in profiles:
        narrowed = f", files {profile.files}" if profile.files else ""
        click.echo(f"Profile {profile.name} ({profile.origin}{narrowed}):")
        for entry in profile.mapping.entries:
            click.echo(f"  {entry.source} → {entry.target}")
    folders = folders_of(settings)
    setup = column_setup(settings.config)
    files = [
        *_spreadsheets(folders.inbox),
        *sorted(
            _spreadsheets(folders.archive), key=lambda path: path.stat().st_mtime, reverse=True
        )[:_FILES_CHECKED],
    ]
    for path in files:
        try:
            sheet = read_requests(path, columns=setup)
        except LacBatchError:
            continue
        for reading in sheet.plan.near_misses:
            click.echo(
                f"Warning: {path}: column '{reading.header}' is a near miss of "
                f"{reading.suggestion}; submit and run now refuse such a file. Map it in "
                f'[columns] ("{reading.header}" = "{reading.suggestion}") or ignore it '
                f'("{reading.header}" = "-").'
            )


def _spreadsheets(folder: Path) -> list[Path]:
    try:
        return [
            path
            for path in folder.iterdir()
            if path.is_file() and path.suffix.lower() in SUFFIX_FORMATS
        ]
    except OSError:
        return []
