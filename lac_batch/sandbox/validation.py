"""The rules a ``POST /service-connections/requests`` body must meet, as the spec states them.

Fields the spec does not list are refused too: the spec's schema does not forbid them, but a
misspelt ``notes`` silently dropped by a lenient server is the kind of mistake a sandbox is for.
A ``customer_id`` other than the key's company is a 422 on that field (the spec is silent), so a
row-level mistake never looks like a refused key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

REQUEST_FIELDS: Mapping[str, tuple[type, str]] = {
    "customer_id": (str, "a string"),
    "connection_key": (str, "a string"),
    "request_type": (str, "a string"),
    "note": (str, "a string"),
    "metadata": (dict, "an object"),
}
"""Each field the spec lists, with the JSON type it must have."""
REQUIRED_FIELDS = ("connection_key", "request_type")


class InvalidBody(ValueError):
    """The body breaks a rule; ``detail`` names each field at fault and why."""

    def __init__(self, problems: list[str]) -> None:
        self.detail = "; ".join(problems)
        super().__init__(self.detail)


def validated_body(raw_body: bytes, company_id: str) -> dict[str, Any]:
    """The parsed body, if it may be accepted from a key of ``company_id``; else InvalidBody."""
    try:
        body = json.loads(raw_body)
    except ValueError:
        raise InvalidBody(["body: not valid JSON"]) from None
    if not isinstance(body, dict):
        raise InvalidBody(["body: must be a JSON object"])
    problems = [f"{field}: required" for field in REQUIRED_FIELDS if field not in body]
    for field, value in body.items():
        if field not in REQUEST_FIELDS:
            problems.append(f"{field}: not a field of this request")
            continue
        expected_type, type_name = REQUEST_FIELDS[field]
        if not isinstance(value, expected_type):
            problems.append(f"{field}: must be {type_name}")
        elif field == "customer_id" and value != company_id:
            problems.append("customer_id: not the company this API key belongs to")
    if problems:
        raise InvalidBody(problems)
    return body
