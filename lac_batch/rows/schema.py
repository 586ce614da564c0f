"""What a valid row is: one pandera schema, and how its failures become per-row issues.

The frame the schema checks has one column per recognised input column, named by its 0-based
position. Text columns hold the cell text; typed ``metadata`` columns hold the converted value,
``None`` for an empty cell, or the :class:`~lac_batch.model.cells.CellValueError` that says why the
text does not convert, so each cell is converted once and the schema only has to point at it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise, repeat
from operator import is_
from typing import Any

import numpy as np
import pandas as pd

from lac_batch.model.cells import CONTROL_CHARACTERS, CellValueError, MetadataType, convert_cell
from lac_batch.model.columns import REQUIRED_FIELDS, ColumnPlan, ColumnSpec, Field
from lac_batch.model.issues import RowIssue
from lac_batch.rows.payload import MetadataEntry, metadata_collisions

with warnings.catch_warnings():
    # pandera warns on import about optional backends we do not use.
    warnings.simplefilter("ignore")
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


# Check name → code and message of the issue it reports. Typed cells carry their own message.
_CHECK_MESSAGES = {
    "required": ("required", "is empty; every request needs a value here"),
    "no_control_characters": (
        "control_character",
        "contains a control character (a tab, a line break, an invisible character, or a letter "
        "garbled by reading an old file with the wrong code page); remove or retype it",
    ),
    "converts": ("bad_value", ""),
    "json_object": ("not_json_object", 'is not a JSON object; write e.g. {"key": "value"}'),
    "metadata_keys_unique": ("metadata_collision", ""),
    "has_api_key": ("no_api_key", ""),
}


def _column_name(spec: ColumnSpec) -> str:
    return str(spec.position)


def _convert(text: str, value_type: MetadataType) -> Any:
    if not text.strip():
        return None
    try:
        return convert_cell(text, value_type)
    except CellValueError as error:
        return error


def _converted_column(texts: Sequence[str], value_type: MetadataType) -> list[Any]:
    if value_type is MetadataType.JSON:
        # Parsed objects are mutable, so every cell gets its own.
        return [_convert(text, value_type) for text in texts]
    # Typed columns repeat few distinct texts (dates, amounts, yes/no): convert each one once.
    converted = {text: _convert(text, value_type) for text in set(texts)}
    return list(map(converted.__getitem__, texts))


def converted_columns(plan: ColumnPlan, rows: Sequence[Sequence[str]]) -> list[Sequence[Any]]:
    """Per recognised column, in plan order: its cell texts, or converted values if typed."""
    # One pass over the rows for all columns: far fewer cache misses than one per column.
    by_position = list(zip(*rows, strict=True)) if rows else [() for _ in plan.headers]
    columns: list[Sequence[Any]] = []
    for spec in plan.columns:
        texts = by_position[spec.position]
        if spec.field is Field.METADATA:
            columns.append(_converted_column(texts, MetadataType.JSON))
        elif spec.field is Field.METADATA_VALUE and spec.value_type is not MetadataType.STR:
            columns.append(_converted_column(texts, spec.value_type))
        else:
            columns.append(texts)
    return columns


def frame_of(plan: ColumnPlan, columns: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """The frame :func:`build_schema` checks, from :func:`converted_columns`."""
    count = len(columns[0]) if columns else 0
    # One block of objects filled column by column: pandas would otherwise build a block per
    # column and then copy them all into one.
    values = np.empty((len(columns), count), dtype=object)
    for place, column in enumerate(columns):
        # fromiter keeps a cell holding a list (a JSON array) as one object, never a sub-array.
        values[place] = np.fromiter(column, dtype=object, count=count)
    names = [_column_name(spec) for spec in plan.columns]
    return pd.DataFrame(values.T, columns=names, dtype=object, copy=False)


# The checks below go through cells with map() rather than pandas' .str methods or a Python
# loop: for a million rows that is several times faster, and these columns hold only text.


def _mask(column: pd.Series, flags: Iterable[Any]) -> pd.Series:
    return pd.Series(np.fromiter(flags, dtype=bool, count=len(column)), index=column.index)


def _filled(column: pd.Series) -> pd.Series:
    return _mask(column, map(bool, map(str.strip, column.tolist())))


def _no_control_characters(column: pd.Series) -> pd.Series:
    texts = column.tolist()
    # One scan of the joined column settles the usual case: no control character anywhere.
    if CONTROL_CHARACTERS.search("".join(texts)) is None:
        return pd.Series(True, index=column.index, dtype=bool)
    return _mask(column, map(is_, map(CONTROL_CHARACTERS.search, texts), repeat(None)))


def _converts(column: pd.Series) -> pd.Series:
    return ~_mask(column, map(isinstance, column.tolist(), repeat(CellValueError)))


def _check(function: Callable[..., Any], name: str, element_wise: bool = False) -> pa.Check:
    # Every check here decides for itself about None (an empty typed cell). Pandera's default,
    # ignore_na, would compute isna of the column for each check: a second per million rows.
    return pa.Check(function, name=name, element_wise=element_wise, ignore_na=False)


def _is_object_or_empty(value: Any) -> bool:
    return value is None or isinstance(value, (dict, CellValueError))


def metadata_entries(plan: ColumnPlan, values: Sequence[Any]) -> list[MetadataEntry]:
    """(label, key path, value) for every filled ``metadata.<key>`` cell of one frame row."""
    return metadata_entry_reader(plan)(values)


def metadata_entry_reader(plan: ColumnPlan) -> Callable[[Sequence[Any]], list[MetadataEntry]]:
    """:func:`metadata_entries` for many rows of one plan: the columns are looked at once."""
    places = [
        (index, spec.label, spec.key_path, spec.value_type is MetadataType.STR)
        for index, spec in enumerate(plan.columns)
        if spec.field is Field.METADATA_VALUE
    ]

    def entries(values: Sequence[Any]) -> list[MetadataEntry]:
        found: list[MetadataEntry] = []
        for index, label, key_path, is_text in places:
            value = values[index]
            if is_text:
                value = value.strip()
                if not value:
                    continue
            elif value is None:
                continue
            found.append((label, key_path, value))
        return found

    return entries


def may_collide(plan: ColumnPlan) -> bool:
    """Whether any two metadata sources could fill the same key (checked per row only then)."""
    paths = [spec.key_path for spec in plan.metadata_values]
    if plan.by_field(Field.METADATA) is not None and paths:
        return True
    ordered = sorted(paths)
    return any(later[: len(earlier)] == earlier for earlier, later in pairwise(ordered))


def _row_collisions(plan: ColumnPlan) -> Callable[[Sequence[Any]], list[str]]:
    json_spec = plan.by_field(Field.METADATA)
    json_index = plan.columns.index(json_spec) if json_spec is not None else None
    label = json_spec.label if json_spec is not None else None
    entries = metadata_entry_reader(plan)

    def collisions(values: Sequence[Any]) -> list[str]:
        json_object = values[json_index] if json_index is not None else None
        if not isinstance(json_object, dict):
            json_object = None
        return metadata_collisions(json_object, label, entries(values))

    return collisions


def build_schema(
    plan: ColumnPlan, customers_with_keys: frozenset[str] | None = None
) -> pa.DataFrameSchema:
    """The single statement of what a valid row is, for the columns of ``plan``.

    With ``customers_with_keys`` (a keys file is in use) every row's ``customer_id`` must be
    one of them, since it selects the API key the row is sent with.
    """
    columns: dict[str, pa.Column] = {}
    for spec in plan.columns:
        checks: list[pa.Check] = []
        if spec.field in REQUIRED_FIELDS:
            checks.append(_check(_filled, "required"))
        if spec.field is Field.CUSTOMER_ID and customers_with_keys is not None:
            checks.append(
                _check(
                    lambda s, known=customers_with_keys: s.str.strip().isin(known), "has_api_key"
                )
            )
        if spec.field in (*REQUIRED_FIELDS, Field.CUSTOMER_ID):
            checks.append(_check(_no_control_characters, "no_control_characters"))
        if spec.field is Field.METADATA:
            checks.append(_check(_is_object_or_empty, "json_object", element_wise=True))
        if spec.field is Field.METADATA or (
            spec.field is Field.METADATA_VALUE and spec.value_type is not MetadataType.STR
        ):
            # Only converted columns can hold a CellValueError; text columns always convert.
            checks.append(_check(_converts, "converts"))
        columns[_column_name(spec)] = pa.Column(checks=checks, nullable=True, coerce=False)
    frame_checks: list[pa.Check] = []
    if may_collide(plan):
        collisions = _row_collisions(plan)
        frame_checks.append(
            _check(
                lambda frame: pd.Series(
                    [not collisions(values) for values in frame.itertuples(index=False)],
                    index=frame.index,
                ),
                "metadata_keys_unique",
            )
        )
    return pa.DataFrameSchema(columns, checks=frame_checks, strict=False, ordered=False)


def check_rows(
    plan: ColumnPlan,
    frame: pd.DataFrame,
    row_numbers: Sequence[int],
    customers_with_keys: frozenset[str] | None = None,
) -> dict[int, list[RowIssue]]:
    """Issues per frame position (0-based), for every failing cell and row, in column order."""
    schema = build_schema(plan, customers_with_keys)
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        failures = errors.failure_cases
    else:
        return {}
    by_name = {_column_name(spec): spec for spec in plan.columns}
    order = {_column_name(spec): place for place, spec in enumerate(plan.columns)}
    collisions = _row_collisions(plan)
    issues: dict[int, list[tuple[int, RowIssue]]] = {}
    # A frame-wide check is reported once per column of the failing row; report it once.
    collided: set[int] = set()
    for column, check, index in zip(
        failures["column"], failures["check"], failures["index"], strict=True
    ):
        if index is None or pd.isna(index):
            continue
        position = int(index)
        row_number = row_numbers[position]
        code, message = _CHECK_MESSAGES.get(str(check), ("invalid", str(check)))
        spec = by_name.get(str(column))
        if code == "metadata_collision":
            if position in collided:
                continue
            collided.add(position)
            values = list(frame.iloc[position])
            found = [RowIssue(row_number, None, code, text) for text in collisions(values)]
            issues.setdefault(position, []).extend((len(order), issue) for issue in found)
            continue
        if spec is None:
            continue
        if code == "bad_value":
            message = str(frame.iat[position, order[str(column)]])
        elif code == "no_api_key":
            customer = str(frame.iat[position, order[str(column)]]).strip()
            message = (
                f"no API key configured for customer '{customer}'; add it to the keys file"
                if customer
                else "is empty; with a keys file every row needs the customer_id that picks its key"
            )
        issues.setdefault(position, []).append(
            (order[str(column)], RowIssue(row_number, spec.label, code, message, spec.position))
        )
    return {
        position: [issue for _, issue in sorted(found, key=lambda pair: pair[0])]
        for position, found in issues.items()
    }
