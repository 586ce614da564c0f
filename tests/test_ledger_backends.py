"""Both ledger backends (SQLite file, PostgreSQL database): the same schema, the same claims.

The PostgreSQL server is real (tests/pg_server.py), started by the test suite itself.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import SAMPLES, open_ledger, run_cli, sandbox_env
from pg_server import SECRET_PASSWORD, SECRET_ROLE, PgServer

from lac_batch.jobs.submit import held_ledger
from lac_batch.ledger.backend import connect
from lac_batch.ledger.store import (
    SCHEMA_VERSION,
    Ledger,
    RequestState,
    Resolution,
    SendingMark,
    migration_sql,
)
from lac_batch.model.errors import RunLockedError
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.status import RowResult, Status
from lac_batch.sandbox import Sandbox
from lac_batch.settings.ledger_url import LedgerUrl
from lac_batch.settings.ledger_url import ledger_location as ledger_location_of


def mark(
    fingerprint: str = "fp-1",
    run_id: int = 1,
    earlier: RequestState | None = None,
    account: str = "acct",
) -> SendingMark:
    return SendingMark(
        fingerprint,
        "https://x/portal",
        account,
        "keyhash",
        '{"a":1}',
        1,
        0,
        "in.csv",
        2,
        run_id,
        earlier,
    )


opened = open_ledger


def test_a_new_ledger_is_migrated_to_the_current_schema(ledger_location: str) -> None:
    ledger = opened(ledger_location)
    assert ledger.created
    ledger.close()
    again = opened(ledger_location)
    assert not again.created
    assert again.connection.schema_version() == SCHEMA_VERSION
    again.close()


def test_a_ledger_made_before_the_merge_of_closing_the_loop_is_brought_up_to_date(
    ledger_location: str,
) -> None:
    """The shared-ledger work numbered its moved_to migration 3 before the retry, progress,
    attempts and mapping migrations took 3 to 6: such a ledger lacks all of their columns."""
    location = ledger_location_of(ledger_location)
    assert location is not None
    old = connect(location)
    old.schema_version()
    with old.transaction():
        for version in (1, 2, 7):  # what that branch called 1, 2 and 3
            for statement in migration_sql(version, old.dialect).split(";"):
                if statement.strip():
                    old.execute(statement)
        old.set_schema_version(3)
    with old.transaction():
        old.execute(
            "INSERT INTO runs (started_at, pid, command, file_name, file_path, file_hash, "
            "account, base_url) VALUES ('2026-12-01T00:00:00+00:00', 1, 'submit', 'in.csv', "
            "'/in.csv', 'h', 'acct', 'https://x/portal')"
        )
    old.close()

    ledger = opened(ledger_location)
    try:
        assert ledger.connection.schema_version() == SCHEMA_VERSION
        for column in ("failed_why", "origin", "retries", "retry_since", "retry_ended"):
            assert column in ledger.connection.columns("requests")
        assert {"to_send", "done", "mapping"} <= set(ledger.connection.columns("runs"))
        assert {"attempts", "resolutions", "moved_to"} <= ledger.connection.tables()
        [run] = ledger.runs()
        assert (run.file_name, run.to_send, run.done) == ("in.csv", 0, 0)
        # The new tables work: a claim, an outcome with its attempt, a resolution.
        ledger.write_batch([mark(run_id=run.id)], [])
        assert ledger.recover_interrupted() == 1
        assert ledger.resolve(
            "fp-1", Resolution.NOT_PROCESSED, event_id="", resolved_by="me", note=""
        )
        assert (
            ledger.start_run(
                pid=1,
                command="retry",
                file_path=Path("in.csv"),
                file_hash="h",
                account="acct",
                base_url="https://x/portal",
            )
            == run.id + 1
        )
    finally:
        ledger.close()


def test_sending_then_outcome_then_lookup(ledger_location: str) -> None:
    ledger = opened(ledger_location)
    run_id = ledger.start_run(
        pid=1,
        command="submit",
        file_path=Path("/in.csv"),
        file_hash="h",
        account="acct",
        base_url="https://x/portal",
    )
    assert ledger.write_batch([mark(run_id=run_id)], []) == set()
    assert ledger.record_state("fp-1").state is RequestState.SENDING  # type: ignore[union-attr]
    ledger.write_batch([], [("fp-1", RowResult(2, Status.ACCEPTED, "evt_1", 202, "", 1))])
    record = ledger.record_state("fp-1")
    assert record is not None
    assert (record.state, record.event_id, record.attempts) == (RequestState.ACCEPTED, "evt_1", 1)
    ledger.finish_run(
        run_id,
        [("fp-1", RowResult(2, Status.ACCEPTED, "evt_1", 202))],
        results_path=None,
        exit_code=0,
    )
    assert [run.id for run in ledger.runs()] == [run_id]
    assert ledger.run_rows(run_id)[0].event_id == "evt_1"
    assert ledger.bodies_by_event_id("https://x/portal", ["evt_1"]) == {"evt_1": '{"a":1}'}
    assert ledger.prune(timedelta(days=1)) == (0, 0)
    ledger.close()


def test_the_claim_is_decided_by_the_database_between_two_connections(
    ledger_location: str,
) -> None:
    first, second = opened(ledger_location), opened(ledger_location)
    # New records: the unique fingerprint lets exactly one insert through.
    assert first.write_batch([mark("fp-new", run_id=1)], []) == set()
    assert second.write_batch([mark("fp-new", run_id=2)], []) == {"fp-new"}
    # A resend of a failed record: the conditional update lets exactly one through.
    first.write_batch([], [("fp-new", RowResult(2, Status.FAILED, "", None, "down", 1))])
    again = mark("fp-new", run_id=3, earlier=RequestState.FAILED)
    assert first.write_batch([again], []) == set()
    assert second.write_batch([mark("fp-new", run_id=4, earlier=RequestState.FAILED)], []) == {
        "fp-new"
    }
    # The loser's undo touches nothing: the record is the winner's.
    second.unmark(4, [("fp-new", None)])
    record = first.record_state("fp-new")
    assert record is not None and record.state is RequestState.SENDING
    first.close()
    second.close()


def test_recovery_on_postgresql_touches_only_the_accounts_whose_locks_are_held(
    postgres: PgServer,
) -> None:
    url = LedgerUrl(postgres.new_database())
    ledger = Ledger.open(url)
    ledger.write_batch([mark("fp-a", account="a"), mark("fp-b", account="b")], [])
    ledger.close()
    with held_ledger(url, accounts=["a"]) as held:
        assert held.recovered == 1
        assert held.ledger.record_state("fp-b").state is RequestState.SENDING  # type: ignore[union-attr]


def test_one_run_at_a_time_per_account_on_postgresql(postgres: PgServer) -> None:
    url = LedgerUrl(postgres.new_database())
    with held_ledger(url, accounts=["acme"]):
        with (
            pytest.raises(RunLockedError, match=r"account acme"),
            held_ledger(url, accounts=["acme"]),
        ):
            pass
        # Another company on the same ledger is not blocked; a keys file spanning both is.
        with held_ledger(url, accounts=["globex"]):
            pass
        with pytest.raises(RunLockedError), held_ledger(url, accounts=["globex", "acme"]):
            pass
    with held_ledger(url, accounts=["acme", "globex"]):  # released when the first ended
        pass


def test_a_password_in_a_ledger_url_on_the_command_line_or_environment_is_refused() -> None:
    url = "postgresql://u:hunter2@db.example/ledger"
    for outcome in (
        run_cli("report", "--ledger", url),
        run_cli("report", env={"LAC_LEDGER": url}),
    ):
        assert outcome.exit_code == ExitCode.UNUSABLE
        assert "a ledger URL without a password" in outcome.output
        assert "hunter2" not in outcome.output


def test_a_password_from_a_private_file_named_in_the_config(
    postgres: PgServer, tmp_path: Path
) -> None:
    database = postgres.new_database().rsplit("/", 1)[1]
    url = LedgerUrl(postgres.url(database, user=SECRET_ROLE))
    secret = tmp_path / "pw"
    secret.write_text(SECRET_PASSWORD + "\n")
    secret.chmod(0o644)
    with pytest.raises(Exception, match="can be read by other users"):
        url.with_password_file(secret, tls=True)
    secret.chmod(0o600)
    ledger = Ledger.open(url.with_password_file(secret, tls=True))
    assert ledger.created
    ledger.close()
    with pytest.raises(Exception) as refused:
        Ledger.open(url)  # no password anywhere
    assert SECRET_PASSWORD not in str(refused.value)


def test_a_remote_host_is_reached_with_certificate_checks_unless_opted_out() -> None:
    remote = LedgerUrl("postgresql://lac@db.example.com/ledger")
    assert "sslmode=verify-full" in remote.conninfo()
    assert "sslmode" not in remote.with_password_file(None, tls=False).conninfo()
    assert "sslmode" not in LedgerUrl("postgresql://lac@127.0.0.1/ledger").conninfo()
    assert "sslmode" not in LedgerUrl("postgresql://lac@/ledger?host=/run/pg").conninfo()
    assert (
        str(LedgerUrl("postgresql://lac@db/ledger?sslmode=disable")) == "postgresql://lac@db/ledger"
    )
    assert psycopg  # the driver is installed with the dev extra


def test_a_held_account_lock_is_exit_4_for_submit_and_a_quiet_pass_for_run(
    postgres: PgServer, tmp_path: Path, sandbox: Sandbox
) -> None:
    url = postgres.new_database()
    path = tmp_path / "inbox" / "requests.csv"
    path.parent.mkdir()
    shutil.copy(SAMPLES / "requests.csv", path)
    old = time.time() - 60
    os.utime(path, (old, old))
    (tmp_path / "lac-batch.toml").write_text("settle_seconds = 0\n", encoding="utf-8")
    env = {**sandbox_env(sandbox), "LAC_LEDGER": url, "LAC_ACCOUNT": "acme"}
    with held_ledger(LedgerUrl(url), accounts=["acme"]):
        submitted = run_cli("submit", path, env=env)
        assert submitted.exit_code == ExitCode.LOCKED
        assert "account acme" in submitted.stderr and "nothing was sent" in submitted.stderr
        passed = run_cli("run", "--once", "--config", tmp_path / "lac-batch.toml", env=env)
        assert (passed.exit_code, passed.output) == (0, "")
        # Another company's run on the same ledger is not held up.
        other = run_cli("submit", path, env={**env, "LAC_ACCOUNT": "globex"})
        assert other.exit_code == ExitCode.OK, other.output
    assert len(sandbox.events()) == 36


def test_config_check_connects_to_a_postgresql_ledger_and_names_one_it_cannot_reach(
    postgres: PgServer,
) -> None:
    url = postgres.new_database()
    reached = run_cli("config", "check", env={"LAC_API_KEY": "k-123", "LAC_LEDGER": url})
    assert reached.exit_code == 0, reached.output
    assert url in reached.stdout
    closed = "postgresql://postgres@127.0.0.1:1/nowhere"
    unreached = run_cli("config", "check", env={"LAC_API_KEY": "k-123", "LAC_LEDGER": closed})
    assert unreached.exit_code == ExitCode.UNUSABLE
    assert f"Not usable: {closed}: the ledger database cannot be reached" in unreached.stderr


def test_a_page_run_on_a_postgresql_ledger_waits_for_no_account_lock_it_cannot_take(
    tmp_path: Path, postgres: PgServer
) -> None:
    from lac_batch.jobs.submit import SubmitOptions
    from lac_batch.ledger.backend import PostgresConnection
    from lac_batch.ledger.lock import account_locks
    from lac_batch.sending.credentials import ApiKey
    from lac_batch.web.app import _recent_runs
    from lac_batch.web.runs import PageRun, run_submit

    url = LedgerUrl(postgres.new_database())
    options = SubmitOptions(base_url="http://127.0.0.1:9/portal", api_key=ApiKey("k"))
    run = PageRun(1, SAMPLES / "requests.csv", "nowhere")
    other = Ledger.open(url)
    try:
        assert isinstance(other.connection, PostgresConnection)
        with account_locks(other.connection, options.accounts):
            asyncio.run(run_submit(run, options, url, tmp_path / "r.results.csv"))
    finally:
        other.close()
    assert "account" in run.problem and "pid" in run.problem, run.problem
    assert run.outcome is None
    assert _recent_runs(url) == []
