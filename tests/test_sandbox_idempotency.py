"""Idempotency-Key, as Stripe does it: replay the first outcome, refuse another body or a race."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sandbox_fixtures import (
    ENDPOINT,
    INJECTED_ERRORS,
    VALID_BODY,
    WRITE,
    async_client_for,
    bearer,
    client_for,
    post,
)

from lac_batch.sandbox import (
    DEFAULT_SANDBOX_KEYS,
    FaultConfig,
    Sandbox,
    SandboxKey,
    running_sandbox,
)

# The sandbox's own Idempotency-Key handling is under test here.
pytestmark = pytest.mark.honours_idempotency_key


def test_same_key_and_body_replays_the_202_without_a_new_event(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    first = post(client, idempotency_key="row-1")
    second = post(client, idempotency_key="row-1")

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    [event] = sandbox.events()
    assert event.event_id == first.json()["event_id"]
    assert event.idempotency_key == "row-1"


def test_key_order_and_whitespace_do_not_make_a_body_different(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    headers = {**WRITE, "Idempotency-Key": "row-1", "Content-Type": "application/json"}
    first = client.post(
        ENDPOINT, content=b'{"connection_key":"a","request_type":"b"}', headers=headers
    )
    second = client.post(
        ENDPOINT, content=b'{ "request_type": "b",\n  "connection_key": "a" }', headers=headers
    )

    assert second.json()["event_id"] == first.json()["event_id"]
    assert len(sandbox.events()) == 1


def test_same_key_with_another_body_is_422(sandbox: Sandbox, client: httpx.Client) -> None:
    post(client, idempotency_key="row-1")

    response = post(client, {**VALID_BODY, "note": "changed"}, idempotency_key="row-1")

    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert len(sandbox.events()) == 1


def test_a_422_is_stored_and_replayed_too(sandbox: Sandbox, client: httpx.Client) -> None:
    body = {"connection_key": "bank"}
    first = post(client, body, idempotency_key="row-1")
    second = post(client, body, idempotency_key="row-1")

    assert (first.status_code, second.status_code) == (422, 422)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"


def test_different_keys_make_different_events(sandbox: Sandbox, client: httpx.Client) -> None:
    first = post(client, idempotency_key="row-1")
    second = post(client, idempotency_key="row-2")

    assert first.json()["event_id"] != second.json()["event_id"]
    assert len(sandbox.events()) == 2


def test_keys_are_scoped_to_the_company() -> None:
    other = SandboxKey("lac_sk_other_company_write", "write", "other-company")
    with running_sandbox(keys=[*DEFAULT_SANDBOX_KEYS, other]) as sandbox:
        with client_for(sandbox) as client:
            first = post(client, idempotency_key="row-1")
            second = post(client, headers=bearer(other.key), idempotency_key="row-1")

        assert first.json()["event_id"] != second.json()["event_id"]
        assert [event.company_id for event in sandbox.events()] == [
            "sandbox-company",
            "other-company",
        ]


def test_refused_keys_store_nothing(sandbox: Sandbox, client: httpx.Client) -> None:
    assert post(client, headers={}, idempotency_key="row-1").status_code == 401

    assert post(client, idempotency_key="row-1").status_code == 202


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_overlong_key_is_422(client: httpx.Client, key: str) -> None:
    response = post(client, idempotency_key=key)

    assert response.status_code == 422
    assert response.json()["detail"].startswith("Idempotency-Key:")


def test_same_key_while_the_first_is_in_flight_is_409() -> None:
    with running_sandbox(FaultConfig(latency_s=0.5)) as sandbox:

        async def race() -> tuple[httpx.Response, httpx.Response]:
            headers = {**WRITE, "Idempotency-Key": "row-1"}
            async with async_client_for(sandbox) as client:
                first = asyncio.create_task(client.post(ENDPOINT, json=VALID_BODY, headers=headers))
                await asyncio.sleep(0.2)
                second = await client.post(ENDPOINT, json=VALID_BODY, headers=headers)
                return await first, second

        first, second = asyncio.run(race())
        with client_for(sandbox) as client:
            sandbox.set_faults(FaultConfig())
            third = post(client, idempotency_key="row-1")

    assert first.status_code == 202
    assert second.status_code == 409
    assert second.json()["error"] == "idempotency_key_in_use"
    assert third.json()["event_id"] == first.json()["event_id"]
    assert len(sandbox.events()) == 1


@pytest.mark.parametrize("faults", INJECTED_ERRORS.values(), ids=INJECTED_ERRORS.keys())
def test_injected_error_answers_are_never_stored(faults: FaultConfig) -> None:
    with running_sandbox(faults) as sandbox, client_for(sandbox) as client:
        refused = post(client, idempotency_key="row-1")
        sandbox.set_faults(FaultConfig())
        retried = post(client, idempotency_key="row-1")

    assert refused.status_code in {429, 500, 503}
    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried.headers


def test_rate_limited_answers_are_never_stored() -> None:
    with running_sandbox(FaultConfig(rate_limit_per_s=1)) as sandbox, client_for(sandbox) as client:
        post(client)
        refused = post(client, idempotency_key="row-1")
        sandbox.set_faults(FaultConfig())
        retried = post(client, idempotency_key="row-1")

    assert refused.status_code == 429
    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried.headers


def test_a_request_closed_before_processing_stores_nothing() -> None:
    with running_sandbox(FaultConfig(p_close_before=1.0)) as sandbox, client_for(sandbox) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            post(client, idempotency_key="row-1")
        sandbox.set_faults(FaultConfig())
        retried = post(client, idempotency_key="row-1")

        assert retried.status_code == 202
        assert "Idempotent-Replayed" not in retried.headers
        assert len(sandbox.events()) == 1


def test_a_request_closed_after_processing_is_replayed_on_retry() -> None:
    with running_sandbox(FaultConfig(p_close_after=1.0)) as sandbox, client_for(sandbox) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            post(client, idempotency_key="row-1")
        [event] = sandbox.events()
        sandbox.set_faults(FaultConfig())
        retried = post(client, idempotency_key="row-1")

        assert retried.status_code == 202
        assert retried.headers["Idempotent-Replayed"] == "true"
        assert retried.json()["event_id"] == event.event_id
        assert len(sandbox.events()) == 1


def test_a_body_that_is_not_json_is_compared_byte_for_byte(client: httpx.Client) -> None:
    headers = {**WRITE, "Idempotency-Key": "row-1"}
    first = client.post(ENDPOINT, content=b"not json", headers=headers)
    same = client.post(ENDPOINT, content=b"not json", headers=headers)
    other = client.post(ENDPOINT, content=json.dumps(VALID_BODY).encode(), headers=headers)

    assert (first.status_code, same.status_code, other.status_code) == (422, 422, 422)
    assert same.headers["Idempotent-Replayed"] == "true"
    assert other.json()["error"] == "idempotency_key_reused"
