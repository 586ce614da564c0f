"""The sandbox answers POST /portal/service-connections/requests as the spec describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_fixtures import ENDPOINT, READ, VALID_BODY, bearer, client_for, post

from lac_batch.sandbox import (
    SANDBOX_COMPANY_ID,
    SANDBOX_WRITE_KEY,
    Sandbox,
    SandboxKey,
    read_event_log,
    running_sandbox,
)


def test_base_url_is_loopback_with_the_production_base_path(sandbox: Sandbox) -> None:
    assert sandbox.base_url == f"http://127.0.0.1:{sandbox.port}/portal"


def test_valid_request_is_accepted_with_an_event(sandbox: Sandbox, client: httpx.Client) -> None:
    response = post(client)

    assert response.status_code == 202
    accepted = response.json()
    assert accepted["event_id"].startswith("evt_")
    assert accepted["connection"] == VALID_BODY
    assert accepted["connections"] == [VALID_BODY]
    [event] = sandbox.events()
    assert (event.event_id, event.body, event.company_id, event.idempotency_key) == (
        accepted["event_id"],
        VALID_BODY,
        SANDBOX_COMPANY_ID,
        None,
    )


def test_every_accepted_request_gets_its_own_event_id(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    event_ids = {post(client).json()["event_id"] for _ in range(5)}

    assert len(event_ids) == 5
    assert {event.event_id for event in sandbox.events()} == event_ids


def test_all_optional_fields_are_accepted(sandbox: Sandbox, client: httpx.Client) -> None:
    body = {
        **VALID_BODY,
        "customer_id": SANDBOX_COMPANY_ID,
        "note": "Avaa yhteys, kiitos. Tänään!",
        "metadata": {"row": 7, "tags": ["a", "b"]},
    }

    assert post(client, body).status_code == 202
    assert sandbox.events()[0].body == body


def test_event_time_is_utc_iso_with_fractional_seconds(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    post(client)

    time = sandbox.events()[0].time
    assert time.endswith("+00:00")
    assert "." in time.split("T")[1]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer lac_sk_not_a_sandbox_key"],
)
def test_missing_or_unknown_token_is_401(
    sandbox: Sandbox, client: httpx.Client, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = post(client, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert sandbox.events() == []


def test_bearer_scheme_is_case_insensitive(client: httpx.Client) -> None:
    assert post(client, headers={"Authorization": f"bearer {SANDBOX_WRITE_KEY}"}).status_code == 202


def test_read_scoped_key_is_403(sandbox: Sandbox, client: httpx.Client) -> None:
    response = post(client, headers=READ)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert "read scope" in response.json()["detail"]
    assert sandbox.events() == []


def test_revoked_key_is_401_from_then_on(sandbox: Sandbox, client: httpx.Client) -> None:
    assert post(client).status_code == 202

    sandbox.revoke_key(SANDBOX_WRITE_KEY)

    assert post(client).status_code == 401
    assert len(sandbox.events()) == 1


def test_extra_keys_carry_their_own_company() -> None:
    other = SandboxKey("lac_sk_other_company_write", "write", "other-company")
    with running_sandbox(keys=[other]) as sandbox, client_for(sandbox) as client:
        assert post(client, headers=bearer(SANDBOX_WRITE_KEY)).status_code == 401
        assert post(client, headers=bearer(other.key)).status_code == 202
        assert sandbox.events()[0].company_id == "other-company"


def test_customer_id_of_another_company_is_422_on_customer_id(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    response = post(client, {**VALID_BODY, "customer_id": "someone-else"})

    assert response.status_code == 422
    assert response.json()["error"] == "validation_failed"
    assert response.json()["detail"].startswith("customer_id:")
    assert sandbox.events() == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"request_type": "setup"}, "connection_key: required"),
        ({"connection_key": "bank"}, "request_type: required"),
        ({**VALID_BODY, "connection_key": 7}, "connection_key: must be a string"),
        ({**VALID_BODY, "request_type": None}, "request_type: must be a string"),
        ({**VALID_BODY, "customer_id": 12}, "customer_id: must be a string"),
        ({**VALID_BODY, "note": ["x"]}, "note: must be a string"),
        ({**VALID_BODY, "metadata": "x=1"}, "metadata: must be an object"),
        ({**VALID_BODY, "notes": "typo"}, "notes: not a field of this request"),
        (["not", "an", "object"], "body: must be a JSON object"),
        ("setup", "body: must be a JSON object"),
        ({}, "connection_key: required; request_type: required"),
    ],
)
def test_invalid_body_is_422_naming_the_field(
    sandbox: Sandbox, client: httpx.Client, body: Any, detail: str
) -> None:
    response = post(client, body)

    assert response.status_code == 422
    assert response.json() == {"error": "validation_failed", "detail": detail}
    assert sandbox.events() == []


def test_body_that_is_not_json_is_422(client: httpx.Client) -> None:
    response = client.post(ENDPOINT, content=b"connection_key=bank", headers=bearer())

    assert response.status_code == 422
    assert response.json() == {"error": "validation_failed", "detail": "body: not valid JSON"}


def test_auth_is_checked_before_the_body(client: httpx.Client) -> None:
    assert post(client, {"bad": "body"}, headers={}).status_code == 401
    assert post(client, {"bad": "body"}, headers=READ).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/portal/service-connections",
        "/portal/service-connections/requests/",
        "/service-connections/requests",
        "/portal/companies",
        "/",
    ],
)
def test_other_paths_are_404_with_the_envelope(sandbox: Sandbox, path: str) -> None:
    url = f"http://127.0.0.1:{sandbox.port}{path}"
    with httpx.Client(trust_env=False) as client:
        response = client.post(url, json=VALID_BODY, headers=bearer())

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_other_methods_are_405_with_the_envelope(client: httpx.Client) -> None:
    response = client.get(ENDPOINT, headers=bearer())

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"


def test_event_log_file_holds_one_json_line_per_event(tmp_path: Path) -> None:
    log_path = tmp_path / "events.jsonl"
    with running_sandbox(log_path=log_path) as sandbox, client_for(sandbox) as client:
        post(client)
        post(client, {**VALID_BODY, "note": "ääkköset"}, idempotency_key="row-2")
        post(client, {"connection_key": 1})
        in_memory = sandbox.events()
        assert sandbox.log_path == log_path

    assert read_event_log(log_path) == in_memory
    assert len(log_path.read_text(encoding="utf-8").splitlines()) == 2


def test_event_log_never_records_the_key_or_authorization(tmp_path: Path) -> None:
    log_path = tmp_path / "events.jsonl"
    with running_sandbox(log_path=log_path) as sandbox, client_for(sandbox) as client:
        post(client)

    text = log_path.read_text(encoding="utf-8")
    assert SANDBOX_WRITE_KEY not in text
    assert "uthorization" not in text


def test_event_log_appends_to_an_existing_file(tmp_path: Path) -> None:
    log_path = tmp_path / "events.jsonl"
    for _ in range(2):
        with running_sandbox(log_path=log_path) as sandbox, client_for(sandbox) as client:
            post(client)

    assert len(read_event_log(log_path)) == 2


def test_reading_a_log_leaves_out_a_line_still_being_written(tmp_path: Path) -> None:
    log_path = tmp_path / "events.jsonl"
    with running_sandbox(log_path=log_path) as sandbox, client_for(sandbox) as client:
        post(client)
    with log_path.open("a", encoding="utf-8") as log:
        log.write('{"time": "2026-')

    assert len(read_event_log(log_path)) == 1
