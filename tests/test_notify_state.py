"""Notification state in the ledger (schema version 2), and what a message may contain."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from lac_batch.ledger.store import MIGRATIONS, SCHEMA_VERSION, Ledger
from lac_batch.notify.message import FileEvent, ProblemEvent, RowError, compose
from lac_batch.notify.settings import Trigger, WebhookFormat
from lac_batch.notify.state import ProblemKind, ProblemStore

SECRET = "lac_sk_live_0123456789abcdefWXYZ"


def test_a_version_1_ledger_gains_the_problem_table_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[1])
        db.execute(
            "INSERT INTO runs (started_at, pid, command, file_name, file_path, file_hash, account, "
            "base_url) VALUES ('2026-01-01', 1, 'submit', 'a.csv', '/a.csv', 'h', 'acc', 'u')"
        )
        db.execute("PRAGMA user_version = 1")
    Ledger.open(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT file_name FROM runs").fetchall() == [("a.csv",)]
        assert db.execute("SELECT count(*) FROM notify_problems").fetchone() == (0,)


def test_a_problem_keeps_its_first_sighting_until_cleared(tmp_path: Path) -> None:
    with ProblemStore.open(tmp_path / "ledger.sqlite3") as store:
        first = store.record(ProblemKind.AUTH_REFUSED, "refused (401)")
        again = store.record(ProblemKind.AUTH_REFUSED, "refused (403)")
        assert again.since == first.since and again.summary == "refused (403)"
        assert again.notified_at is None
        store.mark_notified([ProblemKind.AUTH_REFUSED])
        assert store.open_problems()[ProblemKind.AUTH_REFUSED].notified_at is not None
        store.clear([ProblemKind.AUTH_REFUSED])
        assert store.open_problems() == {}


def rows_event(error: str) -> FileEvent:
    return FileEvent(
        Trigger.ROWS,
        "orders.csv",
        {"accepted": 3, "rejected": 1},
        results="/srv/results/orders.results.csv",
        row_errors=[RowError(4, "rejected", error)],
    )


def test_no_key_survives_into_any_part_of_a_message() -> None:
    message = compose(
        command="run",
        exit_code=3,
        files=[rows_event(f"server echoed Bearer {SECRET}")],
        problems=[ProblemEvent(ProblemKind.AUTH_REFUSED, f"key {SECRET} refused", "2026-01-01")],
        secrets=[SECRET],
    )
    for part in (message.subject, message.text, message.plain, json.dumps(message.fields)):
        assert SECRET not in part
    assert "[api key]" in message.text and "[api key]" in message.plain


def test_slack_text_escapes_what_would_become_links_or_mentions() -> None:
    message = compose(
        command="run",
        exit_code=1,
        files=[rows_event("<!channel> & <https://evil.example|click>")],
        problems=[],
        secrets=[],
    )
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in message.text
    assert "<!channel> & <https://evil.example|click>" in message.plain


def test_teams_document_carries_an_adaptive_card_with_the_same_lines() -> None:
    message = compose(
        command="run", exit_code=1, files=[rows_event("422: bad")], problems=[], secrets=[]
    )
    document = message.webhook_document(WebhookFormat.TEAMS)
    (attachment,) = document["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [block["text"] for block in attachment["content"]["body"]]
    assert texts == [line for line in message.plain.splitlines() if line.strip()]
    assert document["text"] == message.text and document["lac_batch"] == message.fields
    assert set(message.webhook_document(WebhookFormat.SLACK)) == {"text", "lac_batch"}
