"""``lac-batch template``: write a blank request file to fill in."""

from __future__ import annotations

from pathlib import Path

import click

from lac_batch.cli.common import guarded
from lac_batch.cli.help import LacCommand
from lac_batch.cli.options import config_option, effective_settings
from lac_batch.files.template import DEFAULT_TEMPLATE_NAME, write_template
from lac_batch.model.mapping import profile_named
from lac_batch.settings.columns import configured_columns

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@click.command("template", cls=LacCommand)
@click.argument(
    "path",
    required=False,
    default=DEFAULT_TEMPLATE_NAME,
    type=click.Path(path_type=Path, dir_okay=False),
)
@click.option(
    "--metadata",
    "metadata_columns",
    multiple=True,
    metavar="KEY[:type]",
    help="Add a metadata.KEY[:type] column (repeatable); types: str, int, float, bool, date, json.",
)
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@click.option(
    "--profile", help="Use this [profiles.NAME]'s source names as the headers (needs --config)."
)
@config_option
@guarded
def template_command(
    path: Path,
    metadata_columns: tuple[str, ...],
    force: bool,
    profile: str | None,
    config_path: Path | None,
) -> None:
    """Write a blank .xlsx (or .csv) with the right headers to PATH.

    PATH defaults to requests-template.xlsx in the current folder; its ending chooses the format.
    """
    chosen = None
    if profile is not None:
        settings = effective_settings(config_path, {})
        chosen = profile_named(configured_columns(settings.config)[1], profile)
    written = write_template(path, metadata_columns, force=force, profile=chosen)
    click.echo(f"Template: {written}")
    with_config = f" with the config that holds profile {profile}" if profile else ""
    click.echo(f"Fill in one request per row, then run: lac-batch validate {written}{with_config}")
