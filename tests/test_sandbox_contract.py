"""Every response the sandbox gives validates against ../shared/spec/openapi.yaml.

202, 401 and 403 are checked against the responses the operation declares; every other status
against ``components.schemas.Error``, which the spec's prose names for all errors. The spec's
schemas list properties without requiring them; the envelope the prose promises has both, and the
issue asks for all three acceptance fields, so they are required here too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sandbox_fixtures import (
    ENDPOINT,
    INJECTED_ERRORS,
    READ,
    VALID_BODY,
    WRITE,
    client_for,
    post,
)

from lac_batch.sandbox import SANDBOX_COMPANY_ID, FaultConfig, Sandbox, running_sandbox
from lac_batch.sandbox.validation import REQUEST_FIELDS, REQUIRED_FIELDS

SPEC_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
OPERATION = SPEC["paths"]["/service-connections/requests"]["post"]
JSON_TYPES = {"string": str, "object": dict}


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/a/b``) in the spec to the object it names."""
    while "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "required": sorted(schema["properties"])}


def validator_for(status: int) -> Draft202012Validator:
    declared = OPERATION["responses"].get(str(status))
    if declared is None:
        schema = resolve({"$ref": "#/components/schemas/Error"})
    else:
        schema = resolve(resolve(declared)["content"]["application/json"]["schema"])
    # The spec's schemas hold no nested $ref; one would fail here as unresolvable, not pass.
    return Draft202012Validator(strict(schema))


def assert_matches_spec(response: httpx.Response) -> None:
    assert response.headers["Content-Type"] == "application/json"
    validator_for(response.status_code).validate(response.json())


def test_the_operation_declares_202_401_and_403() -> None:
    assert set(OPERATION["responses"]) == {"202", "401", "403"}


ANSWERS: dict[str, Callable[[httpx.Client], httpx.Response]] = {
    "202 accepted": lambda client: post(client),
    "202 with every field": lambda client: post(
        client,
        {**VALID_BODY, "customer_id": SANDBOX_COMPANY_ID, "note": "n", "metadata": {"a": 1}},
    ),
    "202 replayed": lambda client: (
        post(client, idempotency_key="k"),
        post(client, idempotency_key="k"),
    )[1],
    "401 missing token": lambda client: post(client, headers={}),
    "401 unknown token": lambda client: post(client, headers={"Authorization": "Bearer nope"}),
    "403 read key": lambda client: post(client, headers=READ),
    "404 other path": lambda client: client.post("/companies", json=VALID_BODY, headers=WRITE),
    "405 other method": lambda client: client.get(ENDPOINT, headers=WRITE),
    "422 invalid body": lambda client: post(client, {"connection_key": 1}),
    "422 not json": lambda client: client.post(ENDPOINT, content=b"{", headers=WRITE),
    "422 other company": lambda client: post(client, {**VALID_BODY, "customer_id": "x"}),
    "422 key reused": lambda client: (
        post(client, idempotency_key="k"),
        post(client, {**VALID_BODY, "note": "other"}, idempotency_key="k"),
    )[1],
    "422 empty idempotency key": lambda client: post(client, idempotency_key=""),
}


@pytest.mark.parametrize("make", ANSWERS.values(), ids=ANSWERS.keys())
def test_every_answer_matches_the_spec(
    client: httpx.Client, make: Callable[[httpx.Client], httpx.Response]
) -> None:
    assert_matches_spec(make(client))


@pytest.mark.parametrize("faults", INJECTED_ERRORS.values(), ids=INJECTED_ERRORS.keys())
def test_fault_answers_match_the_spec(faults: FaultConfig) -> None:
    with running_sandbox(faults) as sandbox, client_for(sandbox) as client:
        assert_matches_spec(post(client))


def test_rate_limit_answer_matches_the_spec() -> None:
    with running_sandbox(FaultConfig(rate_limit_per_s=1)) as sandbox, client_for(sandbox) as client:
        post(client)
        response = post(client)

    assert response.status_code == 429
    assert_matches_spec(response)


@pytest.mark.honours_idempotency_key
def test_in_flight_answer_matches_the_spec(sandbox: Sandbox, client: httpx.Client) -> None:
    # A 409 needs the first request still in flight: a client that gives up leaves it running.
    sandbox.set_faults(FaultConfig(latency_s=0.3))
    impatient = httpx.Client(base_url=sandbox.base_url, trust_env=False, timeout=0.1)
    with impatient, pytest.raises(httpx.ReadTimeout):
        post(impatient, idempotency_key="k")
    response = post(client, idempotency_key="k")

    assert response.status_code == 409
    assert_matches_spec(response)


def test_request_fields_are_the_ones_the_spec_lists() -> None:
    schema = resolve(OPERATION["requestBody"]["content"]["application/json"]["schema"])

    assert set(REQUIRED_FIELDS) == set(schema["required"])
    assert {field: JSON_TYPES[rule["type"]] for field, rule in schema["properties"].items()} == {
        field: expected_type for field, (expected_type, _) in REQUEST_FIELDS.items()
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
spec_bodies = st.fixed_dictionaries(
    {"connection_key": st.text(max_size=20), "request_type": st.text(max_size=20)},
    optional={
        "customer_id": st.just(SANDBOX_COMPANY_ID),
        "note": st.text(max_size=40),
        "metadata": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    },
)


def test_every_body_the_spec_allows_is_accepted() -> None:
    with running_sandbox() as sandbox, client_for(sandbox) as client:

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(body=spec_bodies)
        def accepted(body: dict[str, Any]) -> None:
            response = post(client, body)
            assert response.status_code == 202, response.text
            assert_matches_spec(response)

        accepted()
        assert len(sandbox.events()) >= 60
