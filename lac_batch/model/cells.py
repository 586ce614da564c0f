"""Turning one cell's text into a typed metadata value, or saying why it cannot be.

Every converter takes the cell text exactly as read and returns a JSON-ready value, or raises
:class:`CellValueError` whose message says what is wrong and what would fix it. The message does
not name the column; the caller puts the column in front.
"""

from __future__ import annotations

import json
import math
import re
from calendar import monthrange
from collections.abc import Callable
from datetime import MAXYEAR, MINYEAR, date, datetime
from enum import StrEnum
from typing import Any

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

JsonValue = Any

# Integers beyond 2**53 do not survive a JSON double (JavaScript, many JSON parsers), so a row that
# needs one is better refused than silently rounded on the other side.
MAX_SAFE_INTEGER = 2**53 - 1


class MetadataType(StrEnum):
    """The type suffix of a ``metadata.<key>:<type>`` column."""

    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATE = "date"
    JSON = "json"


class CellValueError(ValueError):
    """The cell text cannot become a value of the column's type; the message says why."""


# C0, DEL and C1 (\x80-\x9f): an Excel 5/95 file decoded with the wrong code page shows its
# letters as C1 characters, which no text a person typed holds.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def contains_control_characters(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


# Thousands may be grouped with a space, a no-break space or a narrow no-break space (Finnish
# Excel uses the latter two); the decimal mark is a comma or a point, never both.
_GROUP_SEPARATORS = re.compile(r"[ \u00a0\u202f]")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED_INTEGER_PART = re.compile(r"[+-]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+")


def _normalise_number(text: str) -> str:
    """Number text in Python syntax: thousands groups removed, decimal comma made a point."""
    stripped = text.strip()
    if not stripped:
        raise CellValueError("is empty")
    if "," in stripped and "." in stripped:
        raise CellValueError(
            f"'{text}' mixes ',' and '.'; write the decimal mark as one comma or one point "
            "and group thousands with spaces (1 234,50)"
        )
    if stripped.count(",") > 1:
        raise CellValueError(
            f"'{text}' has more than one ','; group thousands with spaces (1 234 567,50)"
        )
    candidate = stripped.replace(",", ".")
    if _GROUP_SEPARATORS.search(candidate):
        integer_part, _, fraction = candidate.partition(".")
        if not _GROUPED_INTEGER_PART.fullmatch(integer_part):
            raise CellValueError(f"'{text}' is not a number (spaces only between groups of 3)")
        candidate = _GROUP_SEPARATORS.sub("", integer_part) + ("." + fraction if fraction else "")
    if not _PLAIN_NUMBER.fullmatch(candidate):
        raise CellValueError(f"'{text}' is not a number")
    return candidate


def parse_float(text: str) -> float | int:
    """A finite number; whole numbers come back as ``int`` so JSON shows ``12``, not ``12.0``."""
    candidate = _normalise_number(text)
    value = float(candidate)
    if not math.isfinite(value):
        raise CellValueError(f"'{text}' is too large for a JSON number")
    if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        return int(value)
    return value


def parse_int(text: str) -> int:
    """A whole number within the JSON-safe range (|n| <= 2**53 - 1)."""
    candidate = _normalise_number(text)
    mantissa, _, exponent = candidate.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    if exponent or fraction.strip("0"):
        # Exponents and non-zero fractions go through float to decide whether they are whole.
        value = float(candidate)
        if not math.isfinite(value) or not value.is_integer():
            raise CellValueError(f"'{text}' is not a whole number")
        number = int(value)
    else:
        number = int(whole) if whole not in ("", "+", "-") else 0
    if abs(number) > MAX_SAFE_INTEGER:
        raise CellValueError(
            f"'{text}' is too large: whole numbers must be between -{MAX_SAFE_INTEGER} "
            f"and {MAX_SAFE_INTEGER}"
        )
    return number


_TRUE_WORDS = frozenset({"true", "yes", "1", "kyllä"})
_FALSE_WORDS = frozenset({"false", "no", "0", "ei"})


def parse_bool(text: str) -> bool:
    word = text.strip().casefold()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise CellValueError(f"'{text}' is not true/false (also yes/no, 1/0, kyllä/ei)")


_FINNISH_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _no_such_day(year: int, month: int, day: int) -> str:
    """Why a date in the right form is not in the calendar (month names not by locale)."""
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    if not MINYEAR <= year <= MAXYEAR:
        return f"the year {year} is out of range"
    length = monthrange(year, month)[1]
    name = _MONTHS[month - 1]
    return f"{day} {name} {year} does not exist ({name} {year} has {length} days)"


def parse_date(text: str) -> str:
    """A calendar date, sent as ``YYYY-MM-DD``.

    Accepts ``YYYY-MM-DD``, Finnish ``d.m.yyyy``, and the ISO timestamp an Excel date cell reads
    as when its time is midnight.
    """
    stripped = text.strip()
    finnish = _FINNISH_DATE.fullmatch(stripped)
    if finnish or _ISO_DATE.fullmatch(stripped):
        day, month, year = (
            (int(part) for part in finnish.groups())
            if finnish
            else reversed([int(part) for part in stripped.split("-")])
        )
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            # The form is right; the day is not in the calendar.
            raise CellValueError(
                f"'{text}' is not a date: {_no_such_day(year, month, day)}"
            ) from None
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise CellValueError(
            f"'{text}' is not a date; write YYYY-MM-DD or d.m.yyyy (2026-03-31 or 31.3.2026)"
        ) from None
    if moment.time() != datetime.min.time():
        raise CellValueError(f"'{text}' has a time of day; a date column takes the date only")
    return moment.date().isoformat()


def _refuse_constant(name: str) -> float:
    raise CellValueError(f"{name} is not allowed in JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise CellValueError(f"the number {text} is too large for JSON")
    return value


def parse_json(text: str) -> JsonValue:
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise CellValueError(
            f"is not valid JSON ({error.msg} at character {error.pos + 1})"
        ) from None


def _parse_str(text: str) -> str:
    return text.strip()


CONVERTERS: dict[MetadataType, Callable[[str], JsonValue]] = {
    MetadataType.STR: _parse_str,
    MetadataType.INT: parse_int,
    MetadataType.FLOAT: parse_float,
    MetadataType.BOOL: parse_bool,
    MetadataType.DATE: parse_date,
    MetadataType.JSON: parse_json,
}


def convert_cell(text: str, value_type: MetadataType) -> JsonValue:
    """The typed value of a non-empty cell; raises :class:`CellValueError` with the reason."""
    return CONVERTERS[value_type](text)
