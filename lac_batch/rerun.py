"""What to do with each valid row, given what the ledger remembers of it.

never sent                     send (generation 0)
accepted                       skipped, with the earlier event_id
rejected                       send again, as a new generation (a server honouring the old
                               Idempotency-Key would only replay the rejection)
failed                         send again with the same key (it was never processed)
unknown (or left by a crash)   not sent: unknown, unless resend_unknown (same key)
anything, with force           send again as a new generation, and say so
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lac_batch.credentials import normalise_base_url
from lac_batch.fingerprint import request_fingerprint
from lac_batch.ledger import Ledger, RequestRecord, RequestState, body_hash
from lac_batch.results import RowResult
from lac_batch.status import Status
from lac_batch.validation import RowVerdict, ValidationReport

__all__ = ["Action", "PlannedRow", "plan_rows"]


class Action(StrEnum):
    SEND = "send"
    SKIP = "skip"
    HOLD = "hold"
    """Left unknown by an earlier run; not sent without resend_unknown."""


@dataclass(frozen=True, slots=True)
class PlannedRow:
    row_number: int
    body_json: str
    occurrence: int
    generation: int
    fingerprint: str
    action: Action
    earlier: RequestRecord | None = None
    note: str = ""
    """Said in the row's error column even when it is accepted (e.g. sent again with --force)."""
    account: str = ""
    """The account the row is sent for (its fingerprint and ledger records carry it)."""

    def settled_result(self) -> RowResult:
        """The result of a row that is not sent (SKIP or HOLD)."""
        earlier = self.earlier
        assert earlier is not None and self.action is not Action.SEND
        if self.action is Action.SKIP:
            return RowResult(
                self.row_number,
                Status.SKIPPED,
                earlier.event_id,
                earlier.http_status,
                f"accepted earlier ({earlier.last_at[:10]}); not sent again",
            )
        return RowResult(
            self.row_number,
            Status.UNKNOWN,
            http_status=earlier.http_status,
            error=(
                f"an earlier run left this request unknown ({earlier.error}); check the LAC "
                "portal, or rerun with --resend-unknown (resends with the same Idempotency-Key)"
            ),
        )


def _latest(
    same_body: Sequence[RequestRecord], account: str, occurrence: int
) -> RequestRecord | None:
    """The newest generation's record of this request, if it was ever sent."""
    mine = [r for r in same_body if r.account == account and r.occurrence == occurrence]
    return max(mine, key=lambda record: record.generation, default=None)


def _first_accepted_elsewhere(
    same_body: Sequence[RequestRecord], account: str
) -> RequestRecord | None:
    """The first acceptance of the same body at the same API under another account."""
    return min(
        (r for r in same_body if r.state is RequestState.ACCEPTED and r.account != account),
        key=lambda record: record.first_at,
        default=None,
    )


def _decide(
    record: RequestRecord | None, *, force: bool, resend_unknown: bool
) -> tuple[Action, int, str]:
    if record is None:
        return Action.SEND, 0, ""
    if force:
        said = f"sent again with --force (earlier: {record.state.value}"
        said += f", {record.event_id})" if record.event_id else ")"
        return Action.SEND, record.generation + 1, said
    if record.state is RequestState.ACCEPTED:
        return Action.SKIP, record.generation, ""
    if record.state is RequestState.REJECTED:
        return Action.SEND, record.generation + 1, ""
    if record.state is RequestState.FAILED:
        return Action.SEND, record.generation, ""
    if resend_unknown:
        return Action.SEND, record.generation, "resent with --resend-unknown"
    return Action.HOLD, record.generation, ""


def plan_rows(
    report: ValidationReport,
    ledger: Ledger | None,
    *,
    base_url: str,
    account: str | Callable[[RowVerdict], str],
    force: bool = False,
    resend_unknown: bool = False,
) -> list[PlannedRow]:
    """One plan per valid row, in file order; without a ledger every row is sent.

    ``account`` names whose request each row is: one name, or a function of the row (a keys
    file gives each company its own account).
    """
    normalised = normalise_base_url(base_url)
    account_of = account if callable(account) else (lambda row: account)
    rows = list(report.valid_rows)
    digests = [body_hash(row.body_json or "") for row in rows]
    # One query per 500 rows rather than two per row.
    known = ledger.records_by_body(normalised, digests) if ledger is not None else {}
    planned: list[PlannedRow] = []
    for row, digest in zip(rows, digests, strict=True):
        row_account = account_of(row)
        assert row.body_json is not None
        same_body = known.get(digest, [])
        record = _latest(same_body, row_account, row.occurrence)
        elsewhere = _first_accepted_elsewhere(same_body, row_account)
        note = ""
        if elsewhere is not None:
            note = (
                f"the same request was accepted on {elsewhere.first_at[:10]} under another "
                f"account (event {elsewhere.event_id})"
            )
        action, generation, said = _decide(record, force=force, resend_unknown=resend_unknown)
        fingerprint = request_fingerprint(
            normalised, row_account, row.body_json, row.occurrence, generation
        )
        planned.append(
            PlannedRow(
                row.row_number,
                row.body_json,
                row.occurrence,
                generation,
                fingerprint,
                action,
                record,
                "; ".join(text for text in (said, note) if text),
                row_account,
            )
        )
    return planned
