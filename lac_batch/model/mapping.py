"""Column mapping: which header of a file means which request column, and by what rule.

A :class:`ColumnMapping` maps a file's own header (the *source*, matched after the same folding
as known names: case, spaces, hyphens, underscores) to a known column (the *target*:
``connection_key``, ``request_type``, ``customer_id``, ``note``, ``metadata``,
``metadata.<key>[:<type>]``) or to ``-``, which ignores the column on purpose. Mappings come in
layers, highest first: ``--map`` > ``--profile`` > an automatic profile > ``[columns]`` of the
config file (:meth:`ColumnMapping.over`). A :class:`Profile` is a named mapping that can be
picked automatically when a file's headers are exactly the profile's sources
(:func:`choose_profile`).

How each header was understood is a :class:`HeaderReading` with its :class:`HeaderRule`, so a
front end can show it and change it. The one "near miss" rule (:func:`near_miss`): an unknown
header whose folded name has a similarity of at least :data:`NEAR_MISS_SCORE` (rapidfuzz's
``fuzz.ratio``, 0-100) with a known name is a near miss of that name.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lac_batch.model.errors import HeaderError, UsageError
from lac_batch.model.wording import Option, option_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

IGNORE = "-"
"""The target that ignores a column on purpose."""
NEAR_MISS_SCORE = 80.0
"""An unknown header is a near miss of a known name at this similarity or more (0-100)."""
HEADER_SEARCH_ROWS = 20
"""The header row is looked for in this many rows at the top of a sheet."""
KNOWN_NAMES = ("connection_key", "request_type", "customer_id", "note", "metadata")
_METADATA = "metadata"


def fold(name: str) -> str:
    """How names are compared: the same folding as known column names."""
    from lac_batch.model.columns import normalise_name

    return normalise_name(name)


class HeaderRule(StrEnum):
    """How a header was understood."""

    NAME = "its own name"
    """A known column name, after folding case, spaces, hyphens and underscores."""
    MAPPED = "mapped"
    """Named by a mapping entry (the reading's ``origin`` says which)."""
    IGNORED = "ignored on purpose"
    """Mapped to ``-``."""
    UNKNOWN = "unknown"
    """Not a known column and not mapped: ignored with a warning (``--strict``: an error)."""
    NEAR_MISS = "near miss"
    """Unknown, and close to a known name: refused by submit and run until mapped or ignored."""
    BLANK = "no header"
    """A blank header cell; ignored (with a warning if its column holds values)."""


@dataclass(frozen=True, slots=True)
class MapEntry:
    """One ``SOURCE=TARGET`` line of a mapping and where it was written."""

    source: str
    target: str
    """A known column (as given), ``metadata.<key>[:<type>]``, or ``-``."""
    origin: str
    """Where it was written: ``--map``, ``[columns] of lac-batch.toml line 7``, …"""

    @property
    def ignores(self) -> bool:
        return self.target.strip() == IGNORE

    def text(self) -> str:
        return f"{self.source}={self.target}"


@dataclass(frozen=True)
class ColumnMapping:
    """Source header → target, by folded source; later layers are merged by :meth:`over`."""

    entries: tuple[MapEntry, ...] = ()
    profile: str | None = None
    """The profile this mapping holds (chosen or picked), if any."""

    def entry_for(self, header: str) -> MapEntry | None:
        folded = fold(header)
        return next((entry for entry in self.entries if fold(entry.source) == folded), None)

    def over(self, lower: ColumnMapping) -> ColumnMapping:
        """This mapping's entries, then ``lower``'s for sources this one does not name."""
        mine = {fold(entry.source) for entry in self.entries}
        kept = tuple(entry for entry in lower.entries if fold(entry.source) not in mine)
        return ColumnMapping(self.entries + kept, self.profile or lower.profile)

    def __bool__(self) -> bool:
        return bool(self.entries)


def parse_map_text(text: str, origin: str) -> MapEntry:
    """``SOURCE=TARGET`` (as ``--map`` takes it) → a checked entry; UsageError naming ``origin``."""
    source, equals, target = text.rpartition("=")
    if not equals or not source.strip() or not target.strip():
        raise UsageError(
            f"{origin} {text!r}: write SOURCE=TARGET, e.g. 'Yhteys=connection_key', "
            "'Amount=metadata.amount:int', or 'Old column=-' to ignore a column."
        )
    return checked_entry(source.strip(), target.strip(), origin)


def checked_entry(source: str, target: str, origin: str) -> MapEntry:
    """An entry whose target is a known column, ``metadata.<key>[:<type>]`` or ``-``."""
    from lac_batch.model.columns import target_problem

    if target != IGNORE:
        problem = target_problem(target)
        if problem:
            raise UsageError(f"{origin}: '{source}' is mapped to {problem}")
    return MapEntry(source, target, origin)


def checked_mapping(entries: Iterable[MapEntry], profile: str | None = None) -> ColumnMapping:
    """Entries of one layer: a source named twice, or two sources mapped to one target, is a
    UsageError naming both entries."""
    from lac_batch.model.columns import target_key

    by_source: dict[str, MapEntry] = {}
    by_target: dict[str, MapEntry] = {}
    for entry in entries:
        earlier = by_source.get(fold(entry.source))
        if earlier is not None:
            raise UsageError(
                f"{entry.origin}: '{entry.source}' is mapped twice ({earlier.text()} in "
                f"{earlier.origin}, {entry.text()}); keep one."
            )
        by_source[fold(entry.source)] = entry
        if entry.ignores:
            continue
        key = target_key(entry.target)
        other = by_target.get(key)
        if other is not None:
            raise UsageError(
                f"{entry.origin}: '{other.source}' ({other.origin}) and '{entry.source}' are both "
                f"mapped to {entry.target}; one column can come from one source only."
            )
        by_target[key] = entry
    return ColumnMapping(tuple(by_source.values()), profile)


@dataclass(frozen=True)
class Profile:
    """A named mapping of ``[profiles.NAME]``; ``files`` (a file-name pattern) narrows the
    automatic choice, it never makes it alone."""

    name: str
    mapping: ColumnMapping
    files: str | None = None
    origin: str = ""

    @property
    def expected(self) -> frozenset[str]:
        """The folded headers a file must have, no more and no fewer, to be picked."""
        return frozenset(fold(entry.source) for entry in self.mapping.entries)

    def fits(self, headers: Sequence[str], file_name: str) -> bool:
        present = frozenset(fold(header) for header in headers if header.strip())
        if present != self.expected:
            return False
        return self.files is None or fnmatch.fnmatch(file_name.casefold(), self.files.casefold())


def choose_profile(
    profiles: Sequence[Profile], headers: Sequence[str], path: Path
) -> Profile | None:
    """The one profile whose headers are exactly the file's; None when none fits; HeaderError
    naming them when several do."""
    fitting = [profile for profile in profiles if profile.fits(headers, path.name)]
    if len(fitting) > 1:
        names = " and ".join(f"'{profile.name}'" for profile in fitting)
        raise HeaderError(
            path,
            f"its headers fit the profiles {names} alike; choose one with "
            f"{option_name(Option.PROFILE)}, or give one of them a 'files' pattern that tells the "
            "files apart.",
        )
    return fitting[0] if fitting else None


def profile_named(profiles: Sequence[Profile], name: str) -> Profile:
    found = next((profile for profile in profiles if profile.name == name), None)
    if found is None:
        known = ", ".join(profile.name for profile in profiles) or "none are configured"
        raise UsageError(
            f"{option_name(Option.PROFILE)} {name!r}: no such profile in the config file "
            f"([profiles.NAME]; configured: {known})."
        )
    return found


def near_miss(header: str) -> str | None:
    """The known name ``header`` is a near miss of, or None (see :data:`NEAR_MISS_SCORE`).

    ``metdata.amount`` is a near miss of ``metadata.amount``: the part before the first dot is
    compared with ``metadata``.
    """
    # Imported here: only a file with an unknown header needs it.
    from rapidfuzz import fuzz, process

    folded = fold(header)
    if not folded:
        return None
    prefix, dot, rest = header.strip().partition(".")
    if dot:
        if fuzz.ratio(fold(prefix), _METADATA) >= NEAR_MISS_SCORE:
            return f"{_METADATA}.{rest}"
        return None
    best = process.extractOne(folded, KNOWN_NAMES, scorer=fuzz.ratio)
    if best is None or best[1] < NEAR_MISS_SCORE:
        return None
    return str(best[0])


@dataclass(frozen=True, slots=True)
class HeaderReading:
    """How one header of a file was understood."""

    position: int
    header: str
    rule: HeaderRule
    target: str | None = None
    """The column it fills (``note``, ``metadata.amount:int``), None when ignored."""
    value_type: str | None = None
    """What its cells are read as: ``text``, ``json``, or a metadata type."""
    origin: str | None = None
    """For a mapped or ignored header: the mapping entry's place (``--map``, a config line)."""
    suggestion: str | None = None
    """For a near miss: the known name it is close to."""

    def as_dict(self) -> dict[str, object]:
        return {
            "position": self.position,
            "header": self.header,
            "rule": self.rule.name.lower(),
            "target": self.target,
            "value_type": self.value_type,
            "origin": self.origin,
            "suggestion": self.suggestion,
        }


def mapping_record(readings: Sequence[HeaderReading], header_row: int) -> str:
    """The mapping a run used, as the ledger keeps it: header → target, and the header row.

    Canonical JSON, so two runs that read a file the same way record the same text.
    """
    columns = {
        reading.header: IGNORE if reading.rule is HeaderRule.IGNORED else reading.target
        for reading in readings
        if reading.rule is not HeaderRule.BLANK
    }
    return json.dumps({"header_row": header_row, "columns": columns}, sort_keys=True)


def mapping_from_record(text: str, origin: str) -> ColumnMapping:
    """The mapping a :func:`mapping_record` describes (to read a file the same way again)."""
    try:
        data = json.loads(text)
        columns = data["columns"]
        entries = [
            MapEntry(str(source), str(target), origin)
            for source, target in columns.items()
            if target is not None
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return ColumnMapping()
    return ColumnMapping(tuple(entries))


def describe_record(text: str) -> str:
    """A recorded mapping for a message: only the headers that are not their own name."""
    try:
        columns: dict[str, str] = json.loads(text)["columns"]
    except (ValueError, KeyError, TypeError):
        return "(unreadable)"
    parts = [
        f"{source}→{target or 'unknown, ignored'}"
        for source, target in columns.items()
        if fold(source) != target
    ]
    return ", ".join(parts) or "every header its own name"


def reading_changes(earlier: str, now: str) -> bool:
    """Whether two recorded mappings read some header differently."""
    try:
        before: dict[str, str] = json.loads(earlier)["columns"]
        after: dict[str, str] = json.loads(now)["columns"]
    except (ValueError, KeyError, TypeError):
        return False
    return before != after


@dataclass(frozen=True)
class ColumnSetup:
    """Every source of column names for one file, and the precedence between them:
    ``overrides`` (``--map``) > ``profile`` (``--profile``) > an automatic profile (or the
    mapping a results file remembers) > ``columns`` (``[columns]`` of the config file)."""

    columns: ColumnMapping = ColumnMapping()
    profiles: tuple[Profile, ...] = ()
    profile: str | None = None
    overrides: ColumnMapping = ColumnMapping()
    header_row: int | None = None
    """Force the header row (1-based); None: search the top rows."""
    remembered: ColumnMapping | None = None
    """How an earlier run read this file (a results file fed back): used instead of an
    automatic profile."""

    def candidates(self) -> list[ColumnMapping]:
        """Every mapping a header row might be read with: the header search tries each."""
        if self.profile is not None:
            bases = [profile_named(self.profiles, self.profile).mapping]
        else:
            bases = [profile.mapping for profile in self.profiles]
            if self.remembered is not None:
                bases.append(self.remembered)
        return [self.overrides.over(base.over(self.columns)) for base in bases] + [
            self.overrides.over(self.columns)
        ]

    def resolve(self, headers: Sequence[str], path: Path) -> ColumnMapping:
        """The mapping the file is read with, its headers being ``headers``."""
        if self.profile is not None:
            base = profile_named(self.profiles, self.profile).mapping
        elif self.remembered is not None:
            base = self.remembered
        else:
            picked = choose_profile(self.profiles, headers, path)
            base = picked.mapping if picked is not None else ColumnMapping()
        return self.overrides.over(base.over(self.columns))
