"""One valid row → the JSON body of ``POST /service-connections/requests``.

Only keys that have values are sent. ``metadata`` is assembled from the ``metadata`` JSON column
and the ``metadata.<key>`` columns; dots in a key nest objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

MetadataEntry = tuple[str, tuple[str, ...], Any]
"""(column label, key path, converted value) of one filled ``metadata.<key>`` cell."""


# One encoder for every body: json.dumps builds a new one per call, a third of the time of
# encoding a body. Bodies are trees of cell values and parsed JSON, so the circular-reference
# bookkeeping has nothing to find.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
)
# Even JSONEncoder.encode builds its C encoder anew on every call (about a third of a body's
# encoding time); json's own C encoder, made once with the same settings, writes the same text.
# Without the C accelerator (another Python implementation) encode() is used.
_make_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_C_CANONICAL: Any = (
    _make_c_encoder(
        None,  # no circular-reference markers, as check_circular=False
        _CANONICAL.default,
        json.encoder.encode_basestring,
        None,  # no indent
        ":",
        ",",
        True,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, json's default
    )
    if _make_c_encoder is not None
    else None
)


def canonical_json(body: Mapping[str, Any]) -> str:
    """The one text of a body: sorted keys, no spaces, UTF-8 kept (for identity and sending)."""
    return canonical_json_value(body)


def canonical_json_value(value: Any) -> str:
    """:func:`canonical_json` of any JSON value (object, array, text, number, boolean, null)."""
    if _C_CANONICAL is not None:
        return "".join(_C_CANONICAL(value, 0))
    return _CANONICAL.encode(value)


def _display(path: Sequence[str]) -> str:
    return "'" + ".".join(path) + "'"


def _walk(
    metadata: dict[str, Any],
    origins: dict[tuple[str, ...], str],
    json_label: str | None,
    entry: MetadataEntry,
) -> str | None:
    """Insert one entry; return a message instead when it collides with an earlier key."""
    label, key_path, value = entry
    node = metadata
    for depth, segment in enumerate(key_path):
        prefix = key_path[: depth + 1]
        is_leaf = depth == len(key_path) - 1
        if segment in node:
            other = origins.get(prefix, json_label or "metadata")
            if is_leaf:
                if isinstance(node[segment], dict) and node[segment]:
                    return (
                        f"{other} and {label} both fill metadata {_display(prefix)}, as an object "
                        "and as a value; fill only one"
                    )
                return f"{other} and {label} both fill metadata {_display(prefix)}; fill only one"
            if not isinstance(node[segment], dict):
                return (
                    f"{other} fills metadata {_display(prefix)} with a value and {label} puts "
                    f"{_display(key_path)} inside it; fill only one"
                )
        elif not is_leaf:
            node[segment] = {}
            origins[prefix] = label
        if is_leaf:
            node[segment] = value
            origins[prefix] = label
        else:
            node = node[segment]
    return None


def _metadata_and_collisions(
    json_object: Mapping[str, Any] | None, json_label: str | None, entries: Iterable[MetadataEntry]
) -> tuple[dict[str, Any], list[str]]:
    # A deep copy through JSON: the JSON cell's object is never changed in place.
    metadata: dict[str, Any] = json.loads(json.dumps(json_object)) if json_object else {}
    origins: dict[tuple[str, ...], str] = {}
    collisions = [
        message
        for entry in entries
        if (message := _walk(metadata, origins, json_label, entry)) is not None
    ]
    return metadata, collisions


def metadata_collisions(
    json_object: Mapping[str, Any] | None, json_label: str | None, entries: Iterable[MetadataEntry]
) -> list[str]:
    """Messages for every key given twice, or given both as a value and as a parent."""
    return _metadata_and_collisions(json_object, json_label, entries)[1]


def assemble_metadata(
    json_object: Mapping[str, Any] | None, entries: Iterable[MetadataEntry]
) -> dict[str, Any]:
    """The ``metadata`` object of a row already known to have no collisions."""
    return _metadata_and_collisions(json_object, None, entries)[0]


def build_body(
    connection_key: str,
    request_type: str,
    *,
    customer_id: str = "",
    note: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The request body with only the keys that have values."""
    body: dict[str, Any] = {"connection_key": connection_key, "request_type": request_type}
    if customer_id:
        body["customer_id"] = customer_id
    if note:
        body["note"] = note
    if metadata:
        body["metadata"] = dict(metadata)
    return body
