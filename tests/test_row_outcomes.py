"""Row outcomes are decided in one place: every outcome kind has an action, every status a ledger
state, and each final result has one named constructor beside Status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import cast

import httpx
import pytest

from lac_batch.ledger.store import RequestState, request_state_of
from lac_batch.model.status import RowResult, Status
from lac_batch.sending.api import Attempt, LacClient, OutcomeKind
from lac_batch.sending.credentials import ApiKey
from lac_batch.sending.engine import AttemptAction, Job, Submitter, action_after
from lac_batch.settings.config import Settings

# The policy table of the engine's docstring, written out: a change to it must be deliberate.
EXPECTED_ACTIONS = {
    OutcomeKind.ACCEPTED: AttemptAction.ACCEPT,
    OutcomeKind.REJECTED: AttemptAction.REJECT,
    OutcomeKind.AUTH_REFUSED: AttemptAction.REFUSE_KEY,
    OutcomeKind.RATE_LIMITED: AttemptAction.PAUSE_ALL,
    OutcomeKind.NOT_DELIVERED: AttemptAction.RESEND,
    OutcomeKind.AMBIGUOUS: AttemptAction.MAYBE_PROCESSED,
}

EXPECTED_LEDGER_STATES: dict[Status, RequestState | None] = {
    Status.VALID: None,
    Status.INVALID: None,
    Status.SKIPPED: None,
    Status.ACCEPTED: RequestState.ACCEPTED,
    Status.REJECTED: RequestState.REJECTED,
    Status.FAILED: RequestState.FAILED,
    Status.UNKNOWN: RequestState.UNKNOWN,
    Status.NOT_SENT: RequestState.FAILED,
}


@pytest.mark.parametrize("kind", list(OutcomeKind))
def test_every_outcome_kind_maps_to_a_defined_action(kind: OutcomeKind) -> None:
    action = action_after(kind)
    assert isinstance(action, AttemptAction)
    assert action is EXPECTED_ACTIONS[kind]


def test_an_unhandled_outcome_kind_is_an_error_not_a_resend() -> None:
    # What a kind added to OutcomeKind without a case would meet at run time (mypy --strict
    # refuses it before that, through assert_never).
    with pytest.raises(AssertionError):
        action_after(cast(OutcomeKind, "unavailable_for_legal_reasons"))


class _SurpriseClient(LacClient):
    """Answers every request with an outcome kind the engine has never heard of."""

    async def send(
        self,
        body_json: str,
        idempotency_key: str,
        key: ApiKey | None = None,
        on_written: Callable[[], None] | None = None,
    ) -> Attempt:
        return Attempt(cast(OutcomeKind, "unavailable_for_legal_reasons"), 451, error="HTTP 451")


def test_a_row_with_an_unhandled_outcome_kind_ends_unknown_never_failed() -> None:
    """A sent request whose outcome the engine cannot read may have been processed: it must
    never end ``failed`` ("safe to send again"), as an if-chain's fall-through made it."""

    async def go() -> dict[int, RowResult]:
        async with httpx.AsyncClient() as http:
            client = _SurpriseClient(http, "https://lac.test/portal", ApiKey("lac_sk_x"))
            settings = replace(
                Settings(max_attempts=3).submit_settings(),
                backoff_base=0.001,
                hintless_wait_floor=0.001,
            )
            run = await Submitter(client, settings).run([Job(2, '{"row":2}', "key-2")])
            return run.results

    results = asyncio.run(asyncio.wait_for(go(), timeout=30))
    assert results[2].status is Status.UNKNOWN
    assert results[2].attempts == 1


@pytest.mark.parametrize("status", list(Status))
def test_every_status_has_a_ledger_mapping(status: Status) -> None:
    assert request_state_of(status) is EXPECTED_LEDGER_STATES[status]


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (RowResult.valid(2), Status.VALID),
        (RowResult.invalid(2, error="bad"), Status.INVALID),
        (RowResult.accepted(2, "evt_1", http_status=202, attempts=1), Status.ACCEPTED),
        (RowResult.rejected(2, http_status=422, error="no", attempts=1), Status.REJECTED),
        (RowResult.failed(2, http_status=404, error="not delivered", attempts=1), Status.FAILED),
        (RowResult.unknown(2, error="maybe", attempts=1), Status.UNKNOWN),
        (RowResult.held_unknown(2, error="earlier unknown"), Status.UNKNOWN),
        (RowResult.unsent(2, error="not sent: stopped"), Status.NOT_SENT),
        (RowResult.skipped(2, "evt_1", error="accepted earlier"), Status.SKIPPED),
        (
            RowResult.exhausted(2, maybe_processed=False, http_status=503, error="x", attempts=5),
            Status.FAILED,
        ),
        (
            RowResult.exhausted(2, maybe_processed=True, http_status=500, error="x", attempts=5),
            Status.UNKNOWN,
        ),
    ],
)
def test_each_named_constructor_gives_its_status(result: RowResult, status: Status) -> None:
    assert result.status is status
    assert result.row_number == 2


def test_constructors_cover_every_status() -> None:
    made = {
        RowResult.valid(2).status,
        RowResult.invalid(2, error="").status,
        RowResult.accepted(2, "", http_status=202, attempts=1).status,
        RowResult.rejected(2, http_status=422, error="", attempts=1).status,
        RowResult.failed(2, http_status=None, error="", attempts=1).status,
        RowResult.unknown(2, error="").status,
        RowResult.unsent(2, error="").status,
        RowResult.skipped(2, "", error="").status,
    }
    assert made == set(Status)


def test_an_accepted_result_keeps_what_the_answer_said() -> None:
    assert RowResult.accepted(2, "evt_1", http_status=202, attempts=3) == RowResult(
        2, Status.ACCEPTED, "evt_1", 202, "", 3
    )
