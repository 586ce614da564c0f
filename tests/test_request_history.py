""" "Did row X go through?": ``report --file INPUT --row N`` / ``--key K`` and the library's
``request_history`` show every attempt of a request across runs, with its answer, against the
sandbox with its idempotency off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import HEADER, WriteCsv, open_ledger, run_cli, sandbox_env

import lac_batch
from lac_batch.sandbox import SANDBOX_WRITE_KEY, FaultConfig, Sandbox

ROWS = [HEADER, ["bank:b0", "setup", "", "row 0"]]


def options(sandbox: Sandbox) -> lac_batch.SubmitOptions:
    settings = lac_batch.Settings(base_url=sandbox.base_url, rate=300.0, max_wait=0)
    return lac_batch.SubmitOptions(
        base_url=sandbox.base_url,
        api_key=lac_batch.ApiKey(SANDBOX_WRITE_KEY),
        settings=settings.submit_settings(),
    )


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_report_row_shows_each_attempt_of_every_run_with_its_answer(
    write_csv: WriteCsv, sandbox: Sandbox, private_ledger: Path, ledger_location: str
) -> None:
    path = write_csv(ROWS)
    ledger = ledger_location
    # Run 1: the connection is closed twice without an answer (resent with the same key): the
    # row is unknown; a person finds it is not in the portal.
    sandbox.set_faults(FaultConfig(p_close_before=1.0))
    env = {**sandbox_env(sandbox), "LAC_MAX_ATTEMPTS": "2", "LAC_RETRY_AMBIGUOUS": "true"}
    assert run_cli("submit", path, env=env).exit_code == 1
    lac_batch.resolve("not_processed", file=path, rows=[2], ledger=ledger)
    # A retry pass in a 503 storm (its waiting runs out at once), then one that is accepted.
    sandbox.set_faults(FaultConfig(p_503=1.0))
    lac_batch.retry_failed(options(sandbox), ledger=ledger)
    sandbox.set_faults(FaultConfig())
    done = lac_batch.retry_failed(options(sandbox), ledger=ledger, now=lambda: later(30))
    [row] = done.retried
    key, event_id = row.idempotency_key, row.result.event_id
    assert [event.idempotency_key for event in sandbox.events()] == [key]

    history = lac_batch.request_history(ledger, file=path, row=2)
    runs = [(e.command, e.status, [(a.n, a.http_status) for a in e.each_attempt])
            for e in history.entries]  # fmt: skip
    assert runs == [
        ("submit", "unknown", [(1, None), (2, None)]),
        ("retry", "failed", [(1, 503)]),
        ("retry", "accepted", [(1, 202)]),
    ]
    first = history.entries[0].each_attempt
    assert all(attempt.error for attempt in first)  # the transport error is said
    assert first[0].at < first[1].at

    shown = run_cli("report", "--file", path, "--row", "2")
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert text.count("attempt 1,") == 3 and text.count("attempt 2,") == 1
    assert "no answer" in text and "HTTP 503" in text and "HTTP 202" in text
    assert event_id in text and key in text
    by_key = run_cli("report", "--key", key)
    assert by_key.exit_code == 0 and by_key.stdout.count("attempt 1,") == 3

    # The key is never stored, attempts included.
    for part in private_ledger.parent.glob(private_ledger.name + "*"):
        assert SANDBOX_WRITE_KEY.encode() not in part.read_bytes()
    opened = open_ledger(ledger)
    try:
        for table in ("requests", "runs", "run_rows", "attempts", "resolutions"):
            rows = opened.query(f"SELECT * FROM {table}")
            assert rows and SANDBOX_WRITE_KEY not in repr(rows), table
    finally:
        opened.close()
