"""Cell conversion for typed metadata columns: examples and properties."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lac_batch.model.cells import (
    MAX_SAFE_INTEGER,
    CellValueError,
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    parse_json,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        (" 1 234 ", 1234),
        ("1\u00a0234\u00a0567", 1234567),
        ("-7", -7),
        ("12,0", 12),
        ("+3", 3),
        ("1e3", 1000),
    ],
)
def test_int_accepts_finnish_grouping(text: str, expected: int) -> None:
    assert parse_int(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("12,5", "not a whole number"),
        ("abc", "not a number"),
        ("1 2", "not a number"),
        ("1,234.5", "mixes"),
        ("1,2,3", "more than one"),
        ("9007199254740993", "too large"),
        ("1e400", "not a whole number"),
    ],
)
def test_int_refuses_with_reason(text: str, reason: str) -> None:
    with pytest.raises(CellValueError, match=reason):
        parse_int(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1 234,50", 1234.5), ("0,25", 0.25), ("12", 12), ("-0.5", -0.5), ("1\u202f000,5", 1000.5)],
)
def test_float_accepts_decimal_comma(text: str, expected: float) -> None:
    assert parse_float(text) == expected


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e400", ""])
def test_float_refuses_non_finite_and_empty(text: str) -> None:
    with pytest.raises(CellValueError):
        parse_float(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("YES", True),
        ("1", True),
        ("Kyllä", True),
        ("KYLLÄ", True),
        ("false", False),
        ("no", False),
        ("0", False),
        ("ei", False),
        (" EI ", False),
    ],
)
def test_bool_words(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected


def test_bool_refuses_other_words() -> None:
    with pytest.raises(CellValueError, match="'maybe' is not true/false"):
        parse_bool("maybe")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-31", "2026-03-31"),
        ("31.3.2026", "2026-03-31"),
        ("1.1.2027", "2027-01-01"),
        ("2026-03-31T00:00:00", "2026-03-31"),
    ],
)
def test_date_forms(text: str, expected: str) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["31.2.2026", "2026-13-01", "tomorrow", "2026-03-31T10:30:00"])
def test_date_refuses(text: str) -> None:
    with pytest.raises(CellValueError):
        parse_date(text)


def test_json_refuses_nan_and_huge_numbers() -> None:
    with pytest.raises(CellValueError):
        parse_json('{"a": NaN}')
    with pytest.raises(CellValueError):
        parse_json('{"a": 1e400}')
    with pytest.raises(CellValueError, match="not valid JSON"):
        parse_json("{a: 1}")


# --- properties ---------------------------------------------------------------------------

safe_integers = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)


def finnish_grouped(number: int) -> str:
    return f"{number:,}".replace(",", "\u00a0")


@given(safe_integers)
def test_int_round_trips_plain_and_grouped(number: int) -> None:
    assert parse_int(str(number)) == number
    assert parse_int(finnish_grouped(number)) == number


@given(st.integers(min_value=MAX_SAFE_INTEGER + 1), st.sampled_from([1, -1]))
def test_int_beyond_json_safe_range_is_refused(magnitude: int, sign: int) -> None:
    number = sign * magnitude
    with pytest.raises(CellValueError, match="too large"):
        parse_int(str(number))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_round_trips_with_comma_or_point(number: float) -> None:
    text = repr(number)
    assert parse_float(text) == number
    assert parse_float(text.replace(".", ",")) == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_result_serialises_as_strict_json(number: float) -> None:
    value = parse_float(repr(number))
    json.dumps(value, allow_nan=False)
    assert math.isfinite(value)


@given(st.text())
def test_every_converter_either_returns_or_explains(text: str) -> None:
    for convert in (parse_int, parse_float, parse_bool, parse_date, parse_json):
        try:
            value = convert(text)
        except CellValueError as error:
            assert str(error)
        else:
            json.dumps(value, allow_nan=False)


@given(st.dates(min_value=dt.date(1000, 1, 1)))
def test_date_round_trips_iso_and_finnish(day: dt.date) -> None:
    assert parse_date(day.isoformat()) == day.isoformat()
    assert parse_date(f"{day.day}.{day.month}.{day.year}") == day.isoformat()
