"""``lac-batch template``: write a blank request file to fill in."""

from __future__ import annotations

from pathlib import Path

import click

from lac_batch.cli.common import guarded
from lac_batch.cli.help import LacCommand
from lac_batch.files.template import DEFAULT_TEMPLATE_NAME, write_template

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
@guarded
def template_command(path: Path, metadata_columns: tuple[str, ...], force: bool) -> None:
    """Write a blank .xlsx (or .csv) with the right headers to PATH.

    PATH defaults to requests-template.xlsx in the current folder; its ending chooses the format.
    """
    written = write_template(path, metadata_columns, force=force)
    click.echo(f"Template: {written}")
    click.echo(f"Fill in one request per row, then run: lac-batch validate {written}")
