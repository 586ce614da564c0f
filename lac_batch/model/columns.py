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
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from lac_batch.model.cells import MetadataType
from lac_batch.model.errors import HeaderError
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


def _matching_key(spec: ColumnSpec) -> str:
    """Two columns with the same matching key are the same column written twice."""
    if spec.field is Field.METADATA_VALUE:
        return "metadata." + ".".join(spec.key_path) + ":" + spec.value_type.value
    return spec.field.value


def _quoted_headers(headers: Sequence[str]) -> str:
    return ", ".join(f"'{header}'" for header in headers) or "(none)"


def plan_columns(
    headers: Sequence[str],
    path: Path,
    *,
    strict: bool = False,
    blank_columns_with_values: Sequence[int] = (),
) -> ColumnPlan:
    """Recognise every column of ``headers`` or raise :class:`HeaderError`.

    ``blank_columns_with_values`` lists positions whose header is blank but which hold values:
    they count as unknown columns (a blank, empty column is ignored silently, as Excel leaves
    many of them).
    """
    specs: list[ColumnSpec] = []
    unknown: list[str] = []
    seen: dict[str, ColumnSpec] = {}
    for position, header in enumerate(headers):
        if not header.strip():
            if position in blank_columns_with_values:
                unknown.append(f"column {column_letter(position)} (no header)")
            continue
        spec = _spec_for(position, header, path)
        if spec is None:
            unknown.append(header)
            continue
        earlier = seen.get(_matching_key(spec))
        if earlier is not None:
            raise HeaderError(
                path,
                f"the header row has '{earlier.header}' (column {column_letter(earlier.position)})"
                f" and '{header}' (column {column_letter(position)}), which name the same "
                f"column; keep one. Headers found: {_quoted_headers(headers)}.",
            )
        seen[_matching_key(spec)] = spec
        specs.append(spec)
    missing = [name.value for name in REQUIRED_FIELDS if name.value not in seen]
    if missing:
        raise HeaderError(
            path,
            f"the header row (row 1) has no {' or '.join(missing)} column, which every request "
            f"needs. Headers found: {_quoted_headers(headers)}.",
        )
    if strict and unknown:
        raise HeaderError(
            path,
            f"unknown columns {_quoted_headers(unknown)} ({option_name(Option.STRICT)} refuses "
            "them); remove or "
            "rename them. Known columns: connection_key, request_type, customer_id, note, "
            "metadata, metadata.<key>[:<type>].",
        )
    return ColumnPlan(tuple(headers), tuple(specs), tuple(unknown))
