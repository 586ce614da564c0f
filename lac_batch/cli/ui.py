"""``lac-batch ui``: the local web page, started with the settings the command line resolves.

The web stack (Starlette, Jinja2, htmx's routes) is imported only here, when ``ui`` runs, so
the other commands start as fast as before.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import click

from lac_batch.cli.common import guarded
from lac_batch.cli.help import LacCommand
from lac_batch.cli.options import (
    config_option,
    effective_settings,
    load_credentials,
    submit_options_from,
)
from lac_batch.cli.submit import EMBEDDED_SANDBOX
from lac_batch.sandbox import SANDBOX_WRITE_KEY, running_sandbox
from lac_batch.sending.credentials import ApiKey

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@click.command("ui", cls=LacCommand)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The port on 127.0.0.1 to serve on (0: any free port).",
)
@config_option
@click.option("--sandbox", is_flag=True, help="Send to an embedded sandbox server on this machine.")
@click.option("--no-browser", is_flag=True, help="Print the page's link; do not open a browser.")
@guarded
def ui_command(port: int, config_path: Path | None, sandbox: bool, no_browser: bool) -> None:
    """Serve the local web page: open a sheet, fix it, send it, follow the run.

    It serves on 127.0.0.1 only, until Ctrl-C. Exit code 2: a usage or config error, an API key
    that cannot be read, or a port that is taken.
    """
    from lac_batch.settings.columns import column_setup
    from lac_batch.web.app import PageSettings
    from lac_batch.web.server import listen, serve
    from lac_batch.web.workspace import pages_folder, private_folder

    settings = effective_settings(config_path, {})
    if sandbox:
        key, company_keys = ApiKey(SANDBOX_WRITE_KEY), None
    else:
        key, company_keys = load_credentials(settings)
    options = submit_options_from(
        settings, key, embedded_sandbox=sandbox, company_keys=company_keys
    )
    listening = listen(port)
    with ExitStack() as stack:
        stack.callback(listening.close)
        ledger = settings.ledger_location()
        destination = options.sent_to_host
        if sandbox:
            # As submit --sandbox: a throwaway server and ledger; the real ledger is untouched.
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="lac-batch-ui-"))
            ledger = Path(scratch) / "ledger.sqlite3"
            server = stack.enter_context(running_sandbox())
            options = replace(options, base_url=server.base_url, destination=EMBEDDED_SANDBOX)
            destination = "the embedded sandbox (nothing leaves this machine)"
            click.echo(f"Sandbox: {server.base_url} (embedded; nothing leaves this machine)")
        page = PageSettings(
            options,
            destination,
            ledger,
            private_folder(pages_folder()),
            columns=column_setup(settings.config),
            config_path=settings.config.path if settings.config is not None else None,
            retry_failed_for=settings.retry_failed_for,
        )
        serve(page, listening, open_browser=not no_browser, announce=click.echo)
