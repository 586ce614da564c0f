"""plan_rows against a ledger holding several accounts, occurrences and generations of a body."""

from __future__ import annotations

from pathlib import Path

from conftest import HEADER, csv_text, open_ledger

from lac_batch.ledger.plan import Action, plan_rows
from lac_batch.ledger.store import Ledger, SendingMark, body_hash
from lac_batch.model.status import RowResult, Status
from lac_batch.rows.validation import ValidationReport, read_requests, validate
from lac_batch.sending.credentials import normalise_base_url

BASE = "https://lac.test/portal"


def report_of(tmp_path: Path, rows: list[list[str]]) -> ValidationReport:
    path = tmp_path / "in.csv"
    path.write_text(csv_text([HEADER, *rows]), encoding="utf-8")
    return validate(read_requests(path), allow_duplicates=True)


def remember(
    ledger: Ledger, body_json: str, account: str, occurrence: int, generation: int, result: Status
) -> str:
    fingerprint = f"{account}-{occurrence}-{generation}-{body_json}"
    mark = SendingMark(
        fingerprint,
        normalise_base_url(BASE),
        account,
        "keyhash",
        body_json,
        occurrence,
        generation,
        "old.csv",
        2,
        1,
    )
    event_id = f"evt_{account}_{occurrence}_{generation}"
    ledger.write_batch([mark], [(fingerprint, RowResult(2, result, event_id, 202, "", 1))])
    return event_id


def test_each_row_is_planned_from_its_own_newest_record(
    tmp_path: Path, ledger_location: str
) -> None:
    report = report_of(
        tmp_path,
        [
            ["bank:a", "setup", "", "twice"],  # occurrence 1: rejected, then accepted
            ["bank:a", "setup", "", "twice"],  # occurrence 2: never sent
            ["bank:b", "setup", "", ""],  # only another account's acceptance
            ["bank:c", "setup", "", ""],  # failed: same key again
            ["bank:d", "setup", "", ""],  # unknown: held
        ],
    )
    first, second, other, failed, unknown = report.valid_rows
    assert (first.occurrence, second.occurrence) == (1, 2)
    ledger = open_ledger(ledger_location)
    assert first.body_json and other.body_json and failed.body_json and unknown.body_json
    remember(ledger, first.body_json, "me", 1, 0, Status.REJECTED)
    accepted = remember(ledger, first.body_json, "me", 1, 1, Status.ACCEPTED)
    remember(ledger, first.body_json, "someone", 2, 0, Status.FAILED)
    elsewhere = remember(ledger, other.body_json, "someone", 1, 0, Status.ACCEPTED)
    remember(ledger, failed.body_json, "me", 1, 3, Status.FAILED)
    remember(ledger, unknown.body_json, "me", 1, 0, Status.UNKNOWN)

    planned = plan_rows(report, ledger, base_url=BASE, account="me")
    ledger.close()

    got = [(plan.action, plan.generation) for plan in planned]
    assert got == [
        (Action.SKIP, 1),
        (Action.SEND, 0),
        (Action.SEND, 0),
        (Action.SEND, 3),
        (Action.HOLD, 0),
    ]
    assert planned[0].earlier is not None and planned[0].earlier.event_id == accepted
    assert planned[1].earlier is None
    assert elsewhere in planned[2].note and "under another account" in planned[2].note
    assert [plan.note for plan in planned if plan is not planned[2]] == [""] * 4


def test_without_a_ledger_every_row_is_sent(tmp_path: Path) -> None:
    report = report_of(tmp_path, [["bank:a", "setup", "", ""], ["bank:b", "setup", "", ""]])
    planned = plan_rows(report, None, base_url=BASE, account="me")
    assert [(plan.action, plan.generation, plan.earlier) for plan in planned] == [
        (Action.SEND, 0, None),
        (Action.SEND, 0, None),
    ]


def test_records_by_body_answers_for_more_bodies_than_one_query_takes(
    ledger_location: str,
) -> None:
    ledger = open_ledger(ledger_location)
    bodies = [f'{{"n":{n}}}' for n in range(1200)]
    base = normalise_base_url(BASE)
    ledger.write_batch(
        [SendingMark(f"fp-{n}", base, "me", "kh", body, 1, 0, "in.csv", n, 1)
         for n, body in enumerate(bodies)],
        [],
    )  # fmt: skip
    found = ledger.records_by_body(base, [body_hash(body) for body in [*bodies, "{}"]])
    ledger.close()
    assert len(found) == 1200
    assert {body_hash(body): [f"fp-{n}"] for n, body in enumerate(bodies)} == {
        digest: [record.fingerprint for record in records] for digest, records in found.items()
    }
