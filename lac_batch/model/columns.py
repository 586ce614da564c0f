"""Which column of the header row means what: the request fields and the ``metadata`` columns.

Fixed names match case-insensitively after trimming, with runs of spaces, hyphens and
underscores read as one underscore (``Connection Key`` is ``connection_key``); so do the
``metadata.`` prefix and the ``:type`` suffix. The key text after ``metadata.`` stays exactly as
written. A repeated header (after that matching) or a missing required column is a
:class:`~lac_batch.model.errors.HeaderError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from lac_batch.model.cells import MetadataType
from lac_batch.model.errors import HeaderError
from lac_batch.model.mapping import (
    KNOWN_NAMES,
    ColumnMapping,
    HeaderReading,
    HeaderRule,
    MapEntry,
    near_miss,
)
from lac_batch.model.wording import Option, option_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


class Field(StrEnum):
    """What a recognised column holds."""

    CONNECTION_KEY = "connection_key"
    REQUEST_TYPE = "request_type"
    CUSTOMER_ID = "customer_id"
    NOTE = "note"
    METADATA = "metadata"
    """The ``metadata`` column: one JSON object per cell."""
    METADATA_VALUE = "metadata."
    """A ``metadata.<key>[:<type>]`` column: one value per cell."""


REQUIRED_FIELDS = (Field.CONNECTION_KEY, Field.REQUEST_TYPE)
_FIXED_FIELDS = {member.value: member for member in Field if member is not Field.METADATA_VALUE}
_SEPARATOR_RUNS = re.compile(r"[\s\-_]+")


def normalise_name(text: str) -> str:
    """``' Connection-Key '`` → ``'connection_key'``: how fixed names and suffixes are matched."""
    return _SEPARATOR_RUNS.sub("_", text.strip()).strip("_").casefold()


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One recognised column: where it is in the file and what it holds."""

    position: int
    """0-based position among the file's columns."""
    header: str
    """The header exactly as written in the file, used in every message about this column."""
    field: Field
    key_path: tuple[str, ...] = ()
    """For ``metadata.`` columns: the nested key (``metadata.contact.email`` → contact, email)."""
    value_type: MetadataType = MetadataType.STR

    @property
    def label(self) -> str:
        """How messages name the column: its header, or its letter when the header is blank."""
        return self.header.strip() or f"column {column_letter(self.position)}"


@dataclass(frozen=True)
class ColumnPlan:
    """The meaning of every column of one header row."""

    headers: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    unknown: tuple[str, ...] = field(default=())
    """Headers that mean nothing to lac-batch; they are ignored (an error with ``--strict``)."""
    readings: tuple[HeaderReading, ...] = field(default=())
    """How every header was understood, in file order."""
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    """The mapping the headers were read with."""
    header_row: int = 1
    """The header's row number in the sheet."""

    @property
    def near_misses(self) -> tuple[HeaderReading, ...]:
        return tuple(reading for reading in self.readings if reading.rule is HeaderRule.NEAR_MISS)

    @property
    def mapped(self) -> tuple[HeaderReading, ...]:
        """Headers read by a mapping entry (mapped or ignored on purpose)."""
        return tuple(
            reading
            for reading in self.readings
            if reading.rule in (HeaderRule.MAPPED, HeaderRule.IGNORED)
        )

    def by_field(self, wanted: Field) -> ColumnSpec | None:
        return next((spec for spec in self.columns if spec.field is wanted), None)

    @property
    def metadata_values(self) -> tuple[ColumnSpec, ...]:
        return tuple(spec for spec in self.columns if spec.field is Field.METADATA_VALUE)

    def has_fields(self, *wanted: Field) -> bool:
        present = {spec.field for spec in self.columns}
        return all(item in present for item in wanted)


def column_letter(position: int) -> str:
    """0 → ``A``, 27 → ``AB``, as Excel names columns."""
    letters = ""
    number = position + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


_TYPE_NAMES = ", ".join(member.value for member in MetadataType)


def _metadata_spec(position: int, header: str, rest: str, path: Path) -> ColumnSpec:
    key_text, colon, type_text = rest.rpartition(":")
    if not colon:
        key_text, type_text = rest, ""
    value_type = MetadataType.STR
    if colon:
        try:
            value_type = MetadataType(normalise_name(type_text))
        except ValueError:
            raise HeaderError(
                path,
                f"column '{header}' has the unknown type ':{type_text}'; the types are "
                f"{_TYPE_NAMES} (metadata.<key>:<type>).",
            ) from None
    key_path = tuple(key_text.split("."))
    if any(not part.strip() for part in key_path):
        raise HeaderError(
            path,
            f"column '{header}' has an empty key; name it metadata.<key> or "
            "metadata.<parent>.<key>.",
        )
    return ColumnSpec(position, header, Field.METADATA_VALUE, key_path, value_type)


def _spec_for(position: int, header: str, path: Path) -> ColumnSpec | None:
    stripped = header.strip()
    prefix, dot, rest = stripped.partition(".")
    if dot and normalise_name(prefix) == Field.METADATA.value:
        return _metadata_spec(position, header, rest, path)
    fixed = _FIXED_FIELDS.get(normalise_name(stripped))
    return ColumnSpec(position, header, fixed) if fixed is not None else None


_TARGET_PATH = Path("mapping target")


def target_problem(target: str) -> str:
    """ "" when ``target`` names a known column or a ``metadata.`` column; else what is wrong."""
    try:
        spec = _spec_for(0, target, _TARGET_PATH)
    except HeaderError as error:
        return f"'{target}', which cannot be: " + error.problem.removeprefix(f"column '{target}' ")
    if spec is None:
        names = ", ".join(KNOWN_NAMES)
        return (
            f"'{target}', which is not a column lac-batch knows ({names}, "
            "metadata.<key>[:<type>], or - to ignore the column)."
        )
    return ""


def target_key(target: str) -> str:
    """Targets with the same key are the same column (``Note`` and ``note``)."""
    spec = _spec_for(0, target, _TARGET_PATH)
    return _matching_key(spec) if spec is not None else target


def spec_type(spec: ColumnSpec) -> str:
    """What the column's cells are read as, for people."""
    if spec.field is Field.METADATA_VALUE:
        return spec.value_type.value
    return "json object" if spec.field is Field.METADATA else "text"


def _matching_key(spec: ColumnSpec) -> str:
    """Two columns with the same matching key are the same column written twice."""
    if spec.field is Field.METADATA_VALUE:
        return "metadata." + ".".join(spec.key_path) + ":" + spec.value_type.value
    return spec.field.value


def _quoted_headers(headers: Sequence[str]) -> str:
    return ", ".join(f"'{header}'" for header in headers) or "(none)"


def _reading(spec: ColumnSpec, entry: MapEntry | None, path: Path) -> HeaderReading:
    rule, origin = HeaderRule.NAME, None
    if entry is not None:
        own = _spec_for(spec.position, spec.header, path) if "." not in spec.header else None
        if own is None or _matching_key(own) != _matching_key(spec):
            rule, origin = HeaderRule.MAPPED, entry.origin
    target = _matching_key(spec)
    if spec.value_type is MetadataType.STR and spec.field is Field.METADATA_VALUE:
        target = target.removesuffix(":" + MetadataType.STR.value)
    return HeaderReading(spec.position, spec.header, rule, target, spec_type(spec), origin)


def _read_header(
    position: int, header: str, mapping: ColumnMapping, path: Path
) -> tuple[ColumnSpec | None, HeaderReading]:
    """One header's column (None when ignored or unknown) and how it was understood."""
    entry = mapping.entry_for(header)
    if entry is not None and entry.ignores:
        return None, HeaderReading(position, header, HeaderRule.IGNORED, origin=entry.origin)
    if entry is not None:
        spec = _spec_for(position, entry.target, path)
        if spec is not None:
            spec = replace(spec, header=header)
            return spec, _reading(spec, entry, path)
    spec = _spec_for(position, header, path)
    if spec is not None:
        return spec, _reading(spec, None, path)
    suggestion = near_miss(header)
    rule = HeaderRule.NEAR_MISS if suggestion else HeaderRule.UNKNOWN
    return None, HeaderReading(position, header, rule, suggestion=suggestion)


def _where(reading: HeaderReading) -> str:
    return f" ({reading.origin})" if reading.origin else ""


def near_miss_problem(near_misses: Sequence[HeaderReading]) -> str:
    """The one paragraph that refuses near misses, with the mapping that would accept them."""
    names = ", ".join(f"'{item.header}' (did you mean {item.suggestion}?)" for item in near_misses)
    maps = " ".join(
        f"{option_name(Option.MAP)} '{item.header}={item.suggestion}'" for item in near_misses
    )
    first = near_misses[0].header
    return (
        f"the columns {names} look like misspelt known columns, and lac-batch will not guess "
        f"which you meant (sending without them would drop their values). Map them ({maps}), "
        f"or ignore one on purpose ({option_name(Option.MAP)} '{first}=-'); a [columns] table in "
        "lac-batch.toml does the same for every run."
    )


def plan_columns(
    headers: Sequence[str],
    path: Path,
    *,
    strict: bool = False,
    blank_columns_with_values: Sequence[int] = (),
    mapping: ColumnMapping | None = None,
    refuse_near_misses: bool = False,
    header_row: int = 1,
) -> ColumnPlan:
    """Recognise every column of ``headers`` (through ``mapping``) or raise :class:`HeaderError`.

    ``blank_columns_with_values`` lists positions whose header is blank but which hold values:
    they count as unknown columns (a blank, empty column is ignored silently, as Excel leaves
    many of them). ``refuse_near_misses``: an unknown header that is a near miss of a known name
    (:func:`lac_batch.model.mapping.near_miss`) is an error, as submit and run want it.
    """
    mapping = mapping or ColumnMapping()
    specs: list[ColumnSpec] = []
    unknown: list[str] = []
    readings: list[HeaderReading] = []
    seen: dict[str, tuple[ColumnSpec, HeaderReading]] = {}
    for position, header in enumerate(headers):
        if not header.strip():
            readings.append(HeaderReading(position, header, HeaderRule.BLANK))
            if position in blank_columns_with_values:
                unknown.append(f"column {column_letter(position)} (no header)")
            continue
        spec, reading = _read_header(position, header, mapping, path)
        readings.append(reading)
        if spec is None:
            if reading.rule in (HeaderRule.UNKNOWN, HeaderRule.NEAR_MISS):
                unknown.append(header)
            continue
        earlier = seen.get(_matching_key(spec))
        if earlier is not None:
            first, first_reading = earlier
            raise HeaderError(
                path,
                f"the header row has '{first.header}' (column {column_letter(first.position)})"
                f"{_where(first_reading)} and '{header}' (column {column_letter(position)})"
                f"{_where(reading)}, which name the same column; keep one. Headers found: "
                f"{_quoted_headers(headers)}.",
            )
        seen[_matching_key(spec)] = (spec, reading)
        specs.append(spec)
    near = [reading for reading in readings if reading.rule is HeaderRule.NEAR_MISS]
    missing = [name.value for name in REQUIRED_FIELDS if name.value not in seen]
    if missing:
        hints = "".join(
            f" '{item.header}': did you mean {item.suggestion}?"
            for item in near
            if item.suggestion in missing
        )
        if not hints:
            # Nothing close: the header may be lower down, or name the column in its own words.
            hints = (
                f" If the header is lower down, give its row with "
                f"{option_name(Option.HEADER_ROW)}; if the file calls the column otherwise, "
                f"map it ({option_name(Option.MAP)} 'ITS NAME={missing[0]}')."
            )
        raise HeaderError(
            path,
            f"the header row (row {header_row}) has no {' or '.join(missing)} column, which "
            f"every request needs.{hints} Headers found: {_quoted_headers(headers)}.",
        )
    if refuse_near_misses and near:
        raise HeaderError(path, near_miss_problem(near))
    if strict and unknown:
        raise HeaderError(
            path,
            f"unknown columns {_quoted_headers(unknown)} ({option_name(Option.STRICT)} refuses "
            "them); remove or "
            "rename them. Known columns: connection_key, request_type, customer_id, note, "
            "metadata, metadata.<key>[:<type>].",
        )
    return ColumnPlan(
        tuple(headers), tuple(specs), tuple(unknown), tuple(readings), mapping, header_row
    )


def header_readings(
    headers: Sequence[str], path: Path, mapping: ColumnMapping | None = None
) -> tuple[HeaderReading, ...]:
    """How every header would be read, without refusing anything (a header whose own name is
    a metadata column with a bad type reads as unknown)."""
    mapping = mapping or ColumnMapping()
    readings: list[HeaderReading] = []
    for position, header in enumerate(headers):
        if not header.strip():
            readings.append(HeaderReading(position, header, HeaderRule.BLANK))
            continue
        try:
            readings.append(_read_header(position, header, mapping, path)[1])
        except HeaderError:
            readings.append(HeaderReading(position, header, HeaderRule.UNKNOWN))
    return tuple(readings)


def fits_as_header(cells: Sequence[str], mapping: ColumnMapping | None = None) -> bool:
    """Whether a row holds every required column (after ``mapping``): the header row test."""
    mapping = mapping or ColumnMapping()
    found: set[Field] = set()
    for cell in cells:
        if not cell.strip():
            continue
        entry = mapping.entry_for(cell)
        if entry is not None and entry.ignores:
            continue
        name = entry.target if entry is not None else cell
        if "." in name.strip():
            continue
        fixed = _FIXED_FIELDS.get(normalise_name(name))
        if fixed is not None:
            found.add(fixed)
    return all(required in found for required in REQUIRED_FIELDS)
