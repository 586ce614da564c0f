"""What to do with each valid row, given what the ledger remembers of it.

never sent                     send (generation 0)
accepted                       skipped, with the earlier event_id
rejected                       send again, as a new generation (a server honouring the old
                               Idempotency-Key would only replay the rejection)
failed                         send again with the same key (it was never processed)
unknown (or left by a crash)   not sent: unknown, unless resend_unknown (same key)
anything, with force           send again as a new generation, and say so

A results file given back as input also says what its rows were (its result block). The block
can only stop a send, never cause one, and is trusted only when its ``sent_to`` names this run's
account and host:

block accepted or skipped      skipped, with the block's event_id, whatever the ledger says and
                               even if the row changed since (the error column says which
                               columns changed, against the body the ledger recorded)
block unknown                  unknown (held), unless resend_unknown, or unless the ledger holds
                               a definite outcome of the request recorded after the block's run
block of another account/host  not trusted: planned from the ledger alone (and said once)
any other or empty status      planned from the ledger alone
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from lac_batch.files.results import EarlierResult, SentTo
from lac_batch.ledger.store import Ledger, RequestRecord, RequestState, body_hash
from lac_batch.model.advice import ambiguous_advice, reason_of
from lac_batch.model.status import RowResult, Status
from lac_batch.model.wording import Option, option_name
from lac_batch.rows.validation import RowVerdict, ValidationReport
from lac_batch.sending.credentials import normalise_base_url
from lac_batch.sending.fingerprint import request_fingerprint

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_BLOCK_SETTLED = frozenset({Status.ACCEPTED, Status.SKIPPED})
"""A block status that settles its row: the request was accepted, so it is never sent again."""
_RESOLVED = frozenset({RequestState.ACCEPTED, RequestState.REJECTED, RequestState.FAILED})


class Action(StrEnum):
    SEND = "send"
    SKIP = "skip"
    HOLD = "hold"
    """Left unknown by an earlier run; not sent without resend_unknown."""


class PlanReason(StrEnum):
    """Why a row is planned as it is, beyond what the ledger rules say by themselves: counted in
    the summary (never its note's text)."""

    FORCED = "forced"
    """Sent again as a new generation because force was asked for."""
    RESENT_UNKNOWN = "resent_unknown"
    """Left unknown by an earlier run, sent again (same key) because resend_unknown was asked."""
    ACCEPTED_ELSEWHERE = "accepted_elsewhere"
    """The same request was accepted at the same API under another account."""
    SETTLED_BY_BLOCK = "settled_by_block"
    """Its results file's block says it was accepted (or skipped): not sent again."""
    HELD_BY_BLOCK = "held_by_block"
    """Its results file's block says unknown: held."""
    BLOCK_NOT_TRUSTED = "block_not_trusted"
    """Its block names another account or host, or none: planned from the ledger alone."""


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
    """Said in the row's error column even when it is accepted (e.g. sent again with force)."""
    account: str = ""
    """The account the row is sent for (its fingerprint and ledger records carry it)."""
    settled: RowResult | None = None
    """The result the results file's block gave a row it settles or holds (SKIP or HOLD)."""
    block_ignored: str | None = None
    """Where the row's block says it was sent ("" if it does not say), when that is not where
    this run sends: the block was not trusted."""
    changed: str = ""
    """The columns changed since the row was accepted, when its block kept it from being sent."""
    reasons: frozenset[PlanReason] = frozenset()

    def settled_result(self) -> RowResult:
        """The result of a row that is not sent (SKIP or HOLD)."""
        if self.settled is not None:
            return self.settled
        earlier = self.earlier
        assert earlier is not None and self.action is not Action.SEND
        if self.action is Action.SKIP:
            return RowResult.skipped(
                self.row_number,
                earlier.event_id,
                http_status=earlier.http_status,
                error=f"accepted earlier ({earlier.last_at[:10]}); not sent again",
            )
        return RowResult.held_unknown(
            self.row_number,
            http_status=earlier.http_status,
            error=(
                f"an earlier run left this request unknown ({reason_of(earlier.error)}); "
                f"{ambiguous_advice()}"
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
) -> tuple[Action, int, PlanReason | None]:
    if record is None:
        return Action.SEND, 0, None
    if force:
        return Action.SEND, record.generation + 1, PlanReason.FORCED
    if record.state is RequestState.ACCEPTED:
        return Action.SKIP, record.generation, None
    if record.state is RequestState.REJECTED:
        return Action.SEND, record.generation + 1, None
    if record.state is RequestState.FAILED:
        return Action.SEND, record.generation, None
    if resend_unknown:
        return Action.SEND, record.generation, PlanReason.RESENT_UNKNOWN
    return Action.HOLD, record.generation, None


def _said(reason: PlanReason | None, record: RequestRecord | None) -> str:
    """What the error column says of a send the ledger alone would not have made."""
    if reason is PlanReason.FORCED:
        assert record is not None
        said = f"sent again with {option_name(Option.FORCE)} (earlier: {record.state.value}"
        return said + (f", {record.event_id})" if record.event_id else ")")
    if reason is PlanReason.RESENT_UNKNOWN:
        return f"resent with {option_name(Option.RESEND_UNKNOWN)}"
    return ""


def sent_to_host(base_url: str) -> str:
    """The host (and port) of a base URL, as the ``sent_to`` cell names it."""
    return urlsplit(normalise_base_url(base_url)).netloc


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _leaves(inner, f"{path}.{key}" if path else str(key))
    else:
        yield path, value


def changed_columns(before_json: str, after_json: str) -> list[str]:
    """The body keys (as column names: ``metadata.contact.email``) whose values differ."""
    # Compared as JSON text: in Python 1 == 1.0 == True, in a request body they differ.
    before = {name: json.dumps(value) for name, value in _leaves(json.loads(before_json))}
    after = {name: json.dumps(value) for name, value in _leaves(json.loads(after_json))}
    return [
        name for name in sorted(before.keys() | after.keys()) if before.get(name) != after.get(name)
    ]


def _resolved_after(record: RequestRecord | None, block: EarlierResult) -> bool:
    """Whether the ledger holds a definite outcome of the request, recorded after the run that
    wrote ``block`` (a ledger of another machine may hold an older one)."""
    at = block.sent_to.at if block.sent_to is not None else None
    if record is None or record.state not in _RESOLVED or at is None:
        return False
    return datetime.fromisoformat(record.last_at) > at


def _held_by_block(row_number: int, block: EarlierResult) -> RowResult:
    at = block.sent_to.at if block.sent_to is not None else None
    when = f" ({at:%Y-%m-%d})" if at is not None else ""
    return RowResult.held_unknown(
        row_number,
        error=(
            f"an earlier run{when} left this request unknown, as this results file says; "
            f"{ambiguous_advice()}"
        ),
    )


def _settled_by_block(
    row: RowVerdict, block: EarlierResult, record: RequestRecord | None, accepted_body: str | None
) -> tuple[RowResult, str]:
    """The skipped result of a row whose block says it was accepted, and what changed since."""
    assert row.body_json is not None
    if record is not None and record.state is RequestState.ACCEPTED:
        # The ledger has this very body accepted: nothing changed.
        return (
            RowResult.skipped(
                row.row_number,
                block.event_id or record.event_id,
                http_status=record.http_status,
                error=f"accepted earlier ({record.last_at[:10]}); not sent again",
            ),
            "",
        )
    event = f" (event {block.event_id})" if block.event_id else ""
    changed = ""
    if accepted_body is None:
        said = f"accepted earlier{event}, as this results file says; not sent again"
    else:
        changed = ", ".join(changed_columns(accepted_body, row.body_json)) or "the row"
        said = (
            f"accepted earlier{event}; changed since it was accepted: {changed}; not sent again "
            "(to send the changed request, empty the row's status cell)"
        )
    return RowResult.skipped(row.row_number, block.event_id, error=said), changed


@dataclass
class _Draft:
    row: RowVerdict
    account: str
    record: RequestRecord | None
    note: str
    action: Action
    generation: int
    reason: PlanReason | None
    block: EarlierResult | None = None
    block_ignored: str | None = None

    @property
    def reasons(self) -> frozenset[PlanReason]:
        reasons = {self.reason} if self.reason is not None else set()
        if self.note:
            reasons.add(PlanReason.ACCEPTED_ELSEWHERE)
        if self.block is not None:
            settled = self.action is Action.SKIP
            reasons.add(PlanReason.SETTLED_BY_BLOCK if settled else PlanReason.HELD_BY_BLOCK)
        if self.block_ignored is not None:
            reasons.add(PlanReason.BLOCK_NOT_TRUSTED)
        return frozenset(reasons)


def plan_rows(
    report: ValidationReport,
    ledger: Ledger | None,
    *,
    base_url: str,
    account: str | Callable[[RowVerdict], str],
    destination: str | None = None,
    force: bool = False,
    resend_unknown: bool = False,
    blocks: Mapping[int, EarlierResult] | None = None,
) -> list[PlannedRow]:
    """One plan per valid row, in file order; without a ledger every row is sent.

    ``account`` names whose request each row is: one name, or a function of the row (a keys
    file gives each company its own account). ``blocks`` holds, by row number, the result
    block of each row of a results file given back as input; ``destination`` is what their
    ``sent_to`` must name for them to be trusted (default: the base URL's host and port).
    """
    normalised = normalise_base_url(base_url)
    host = destination or sent_to_host(base_url)
    account_of = account if callable(account) else (lambda row: account)
    rows = list(report.valid_rows)
    digests = [body_hash(row.body_json or "") for row in rows]
    # One query per 500 rows rather than two per row.
    known = ledger.records_by_body(normalised, digests) if ledger is not None else {}
    drafts: list[_Draft] = []
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
        action, generation, reason = _decide(record, force=force, resend_unknown=resend_unknown)
        draft = _Draft(row, row_account, record, note, action, generation, reason)
        block = (blocks or {}).get(row.row_number)
        if block is not None and not force and block.status in (*_BLOCK_SETTLED, Status.UNKNOWN):
            where = SentTo.where_of(host, row_account)
            if block.sent_to is None or block.sent_to.where != where:
                draft.block_ignored = block.sent_to.where if block.sent_to is not None else ""
            elif block.status in _BLOCK_SETTLED:
                draft.block, draft.action, draft.reason = block, Action.SKIP, None
            elif (
                action is Action.SEND and not resend_unknown and not _resolved_after(record, block)
            ):
                draft.block, draft.action, draft.reason = block, Action.HOLD, None
        drafts.append(draft)
    # Bodies accepted under the blocks' event_ids, for the rows whose own body the ledger has
    # not accepted (they changed since): one query for all of them.
    changed_ids = [
        draft.block.event_id
        for draft in drafts
        if draft.block is not None
        and draft.action is Action.SKIP
        and not (draft.record is not None and draft.record.state is RequestState.ACCEPTED)
    ]
    accepted_bodies = (
        ledger.bodies_by_event_id(normalised, changed_ids) if ledger is not None else {}
    )
    planned: list[PlannedRow] = []
    for draft in drafts:
        row = draft.row
        assert row.body_json is not None
        settled: RowResult | None = None
        changed = ""
        if draft.block is not None and draft.action is Action.SKIP:
            settled, changed = _settled_by_block(
                row, draft.block, draft.record, accepted_bodies.get(draft.block.event_id)
            )
        elif draft.block is not None:
            settled = _held_by_block(row.row_number, draft.block)
        fingerprint = request_fingerprint(
            normalised, draft.account, row.body_json, row.occurrence, draft.generation
        )
        planned.append(
            PlannedRow(
                row.row_number,
                row.body_json,
                row.occurrence,
                draft.generation,
                fingerprint,
                draft.action,
                draft.record,
                "; ".join(text for text in (_said(draft.reason, draft.record), draft.note) if text),
                draft.account,
                settled,
                draft.block_ignored,
                changed,
                draft.reasons,
            )
        )
    return planned
