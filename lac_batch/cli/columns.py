"""``lac-batch columns``: how each header of a file is understood, before anything is sent."""

from __future__ import annotations

from pathlib import Path

import click

from lac_batch.cli.common import column_options, delimiter_value, file_options, guarded
from lac_batch.cli.help import LacCommand
from lac_batch.cli.options import config_option, effective_settings
from lac_batch.model.columns import column_letter
from lac_batch.model.mapping import HeaderReading, HeaderRule
from lac_batch.rows.validation import read_headers
from lac_batch.settings.columns import column_setup

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_WHY_IGNORED = {
    HeaderRule.IGNORED: "ignored on purpose",
    HeaderRule.UNKNOWN: "ignored: not a column lac-batch knows (--strict refuses it)",
    HeaderRule.BLANK: "ignored: no header",
}


def _line(reading: HeaderReading) -> str:
    where = f"{column_letter(reading.position)}  {reading.header or '(blank)'}"
    if reading.rule is HeaderRule.NEAR_MISS:
        return (
            f"  {where}: ignored by validate, refused by submit and run: did you mean "
            f"{reading.suggestion}? (--map '{reading.header}={reading.suggestion}', or "
            f"'{reading.header}=-' to ignore it)"
        )
    if reading.target is None:
        why = _WHY_IGNORED[reading.rule]
        return f"  {where}: {why}" + (f" ({reading.origin})" if reading.origin else "")
    how = f"mapped by {reading.origin}" if reading.rule is HeaderRule.MAPPED else reading.rule
    return f"  {where} → {reading.target} ({reading.value_type}; {how})"


@click.command("columns", cls=LacCommand)
@click.argument("input_path", metavar="FILE", type=click.Path(path_type=Path))
@file_options
@column_options
@config_option
@guarded
def columns_command(
    input_path: Path,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    column_map: tuple[str, ...],
    profile: str | None,
    header_row: int | None,
    config_path: Path | None,
) -> None:
    """Show how each header of FILE is understood: the column it fills, by which rule."""
    settings = effective_settings(config_path, {})
    setup = column_setup(
        settings.config, column_map=column_map, profile=profile, header_row=header_row
    )
    report = read_headers(
        input_path,
        sheet=sheet,
        encoding=encoding,
        delimiter=delimiter_value(delimiter),
        columns=setup,
    )
    place = f" of sheet '{report.table.sheet}'" if report.table.sheet else ""
    used = f"; profile {report.mapping.profile}" if report.mapping.profile else ""
    click.echo(f"{input_path}: header in row {report.header_row}{place}{used}")
    for reading in report.readings:
        click.echo(_line(reading))
