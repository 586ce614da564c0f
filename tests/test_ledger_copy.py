"""``lac-batch ledger copy SRC DST``: a ledger moved between backends, verified, the old one
marked so that nobody keeps sending from it."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import SAMPLES, open_ledger, run_cli, sandbox_env
from pg_server import PgServer

from lac_batch.ledger.store import Resolution, SendingMark
from lac_batch.model.exit_codes import ExitCode
from lac_batch.sandbox import Sandbox


def _mark(fingerprint: str, run_id: int) -> SendingMark:
    return SendingMark(
        fingerprint=fingerprint,
        base_url="http://127.0.0.1:1",
        account="acct",
        key_hash="kh",
        body_json='{"customer_id": "C-1"}',
        occurrence=1,
        generation=0,
        file_name="crashed.csv",
        row_number=2,
        run_id=run_id,
    )


def submitted(tmp_path: Path, sandbox: Sandbox, ledger: str) -> Path:
    path = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    outcome = run_cli("submit", path, env={**sandbox_env(sandbox), "LAC_LEDGER": ledger})
    assert outcome.exit_code == ExitCode.OK, outcome.output
    return path


def test_a_file_ledger_copied_to_postgresql_keeps_every_record_and_run(
    tmp_path: Path, sandbox: Sandbox, postgres: PgServer, private_ledger: Path
) -> None:
    path = submitted(tmp_path, sandbox, str(private_ledger))
    sent = len(sandbox.events())
    # A request left unknown by a crash, then resolved by a person: a resolution to copy.
    source = open_ledger(str(private_ledger))
    source.write_batch([_mark("fp-crashed", run_id=1)], [])
    assert source.recover_interrupted() == 1
    assert source.resolve(
        "fp-crashed", Resolution.ACCEPTED, event_id="evt-portal", resolved_by="ops", note="seen"
    )
    source.close()
    url = postgres.new_database()
    copied = run_cli("ledger", "copy", private_ledger, url)
    assert copied.exit_code == 0, copied.output
    assert (
        "Copied 37 request records and 1 run (36 row results, 36 attempts, 1 resolution)"
        in copied.stdout
    )
    copy = open_ledger(url)
    (attempts,) = copy.query("SELECT count(*) FROM attempts WHERE http_status = 202")[0]
    resolved = copy.query("SELECT fingerprint, resolved_by, note, earlier_state FROM resolutions")
    copy.close()
    assert attempts == 36
    assert resolved == [("fp-crashed", "ops", "seen", "unknown")]
    history = run_cli("report", "--key", "fp-crashed", "--ledger", url)
    assert history.exit_code == 0 and "ops" in history.stdout, history.output

    env = {**sandbox_env(sandbox), "LAC_LEDGER": url}
    again = run_cli("submit", path, env=env)
    assert again.exit_code == ExitCode.OK and "skipped 36" in again.stdout
    assert len(sandbox.events()) == sent
    listed = run_cli("report", env=env).stdout.splitlines()
    assert [line.split(":")[0] for line in listed] == ["run 2", "run 1"]

    old = run_cli("submit", path, env={**sandbox_env(sandbox), "LAC_LEDGER": str(private_ledger)})
    assert old.exit_code == ExitCode.UNUSABLE
    assert f"was moved to {url}" in old.stderr and "nothing was sent" in old.stderr
    assert len(sandbox.events()) == sent


def test_a_postgresql_ledger_copied_to_a_file(
    tmp_path: Path, sandbox: Sandbox, postgres: PgServer
) -> None:
    url = postgres.new_database()
    submitted(tmp_path, sandbox, url)
    target = tmp_path / "moved" / "ledger.sqlite3"
    target.parent.mkdir()
    assert run_cli("ledger", "copy", url, target).exit_code == 0
    copy = open_ledger(str(target))
    assert [run.counts for run in copy.runs()] == [{"accepted": 36}]
    copy.close()
    assert run_cli("report", "--ledger", url).exit_code == ExitCode.UNUSABLE


def test_a_copy_into_a_ledger_that_holds_records_is_refused_and_moves_nothing(
    tmp_path: Path, sandbox: Sandbox, postgres: PgServer, private_ledger: Path
) -> None:
    url = postgres.new_database()
    (tmp_path / "other").mkdir()
    submitted(tmp_path / "other", sandbox, url)
    submitted(tmp_path, sandbox, str(private_ledger))
    refused = run_cli("ledger", "copy", private_ledger, url)
    assert refused.exit_code == ExitCode.UNUSABLE
    assert "copied only into an empty one" in refused.stderr
    assert run_cli("report", "--ledger", private_ledger).exit_code == 0


def test_a_password_in_a_copy_destination_is_refused_and_never_shown(
    private_ledger: Path,
) -> None:
    refused = run_cli("ledger", "copy", private_ledger, "postgresql://u:hunter2@db/ledger")
    assert refused.exit_code == ExitCode.UNUSABLE
    assert "hunter2" not in refused.output and "without a password" in refused.output
