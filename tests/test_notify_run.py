"""`lac-batch run` notifications, end to end: the sandbox, a real webhook and a real SMTP server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import SAMPLES, read_results_csv, run_cli, sandbox_env
from notify_receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpReceiver,
    WebhookReceiver,
    closed_port,
    smtp,
    webhook,
)
from test_results_unwritable import _disk_full_except_under
from test_run import drop, names

from lac_batch.ledger.lock import RunLock
from lac_batch.ledger.store import Ledger
from lac_batch.sandbox import SANDBOX_WRITE_KEY, Sandbox

__all__ = ["closed_port", "smtp", "webhook"]  # fixtures used by the tests below

REVOKED = "lac_sk_revoked_0000000000"


@pytest.fixture(autouse=True)
def ledger_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger (and so the notification state) is the one lac-batch.toml names."""
    monkeypatch.delenv("LAC_LEDGER", raising=False)


def email_table(smtp: SmtpReceiver, login: str = "") -> str:
    return (
        f'[notify.email]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n{login}'
        'from = "lac-batch@example.fi"\nto = ["ops@example.fi", "oncall@example.fi"]\n'
    )


def setup(tmp_path: Path, notify: str, top: str = "") -> Path:
    (tmp_path / "inbox").mkdir(parents=True, exist_ok=True)
    (tmp_path / "state").mkdir(exist_ok=True)
    # An existing ledger, as in service; a new one is announced (test_ledger_location.py).
    Ledger.open(tmp_path / "state" / "ledger.sqlite3").close()
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        f'{top}rate = 300\nsettle_seconds = 0\nledger = "state/ledger.sqlite3"\n'
        f'log_file = "logs/run.log"\n\n[notify]\n{notify}',
        encoding="utf-8",
    )
    return config


def both(webhook: WebhookReceiver, smtp: SmtpReceiver) -> str:
    return f'webhook_url = "{webhook.url}"\n' + email_table(smtp)


def run_once(config: Path, env: dict[str, str]) -> tuple[int, str]:
    outcome = run_cli("run", "--once", "--config", config, env=env)
    return outcome.exit_code, outcome.output


def drop_with_rejected_rows(tmp_path: Path, rejected: int) -> Path:
    """requests.csv with the first ``rejected`` rows naming another company (the API says 422)."""
    lines = (SAMPLES / "requests.csv").read_text(encoding="utf-8-sig").splitlines()
    for index in range(1, rejected + 1):
        cells = lines[index].split(";")
        cells[2] = "another-company"
        lines[index] = ";".join(cells)
    target = tmp_path / "inbox" / "mixed.csv"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    old = time.time() - 60
    os.utime(target, (old, old))
    return target


def test_refused_key_is_told_once_and_recovered_once(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    config = setup(tmp_path, both(webhook, smtp))
    drop(tmp_path, "requests.csv")

    assert run_once(config, sandbox_env(sandbox, REVOKED))[0] == 3
    assert (len(webhook.documents), len(smtp.messages)) == (1, 1)
    told = webhook.documents[0]["lac_batch"]
    assert told["kind"] == "attention" and told["exit_code"] == 3
    assert [(p["problem"], p["state"]) for p in told["problems"]] == [("auth_refused", "started")]
    assert "The API key was refused" in webhook.documents[0]["text"]
    assert "The API key was refused" in smtp.messages[0]["Subject"]
    assert smtp.messages[0]["To"] == "ops@example.fi, oncall@example.fi"

    assert run_once(config, sandbox_env(sandbox, REVOKED))[0] == 3
    assert (len(webhook.documents), len(smtp.messages)) == (1, 1)

    assert run_once(config, sandbox_env(sandbox))[0] == 0
    assert (len(webhook.documents), len(smtp.messages)) == (2, 2)
    recovered = webhook.documents[1]["lac_batch"]
    assert recovered["kind"] == "recovered"
    assert [(p["problem"], p["state"]) for p in recovered["problems"]] == [
        ("auth_refused", "recovered")
    ]
    assert "Recovered: The API key is accepted again" in smtp.messages[1]["Subject"]

    assert run_once(config, sandbox_env(sandbox))[0] == 0  # nothing to do, nothing to tell
    assert (len(webhook.documents), len(smtp.messages)) == (2, 2)
    subjects = [str(message["Subject"]) for message in smtp.messages]
    for sent in [*(body.decode() for body in webhook.bodies), *smtp.texts(), *subjects]:
        assert REVOKED not in sent and SANDBOX_WRITE_KEY not in sent


def test_rows_not_ok_are_told_with_counts_first_errors_and_results_path(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    config = setup(tmp_path, both(webhook, smtp))
    drop_with_rejected_rows(tmp_path, rejected=7)
    assert run_once(config, sandbox_env(sandbox))[0] == 1
    assert (len(webhook.documents), len(smtp.messages)) == (1, 1)
    document = webhook.documents[0]
    (told,) = document["lac_batch"]["files"]
    results = tmp_path / "results" / "mixed.results.csv"
    assert told["file"] == "mixed.csv" and told["trigger"] == "on_rows"
    assert told["counts"] == {"accepted": 29, "rejected": 7}
    assert told["results"] == str(results) and results.exists()
    assert [error["row"] for error in told["row_errors"]] == [2, 3, 4, 5, 6]
    assert {error["status"] for error in told["row_errors"]} == {"rejected"}
    assert told["more_row_errors"] == 2
    assert "*mixed.csv*: 36 rows: accepted 29, rejected 7" in document["text"]
    assert "… and 2 more (see the results file)" in document["text"]
    assert str(results) in document["text"] and str(results) in smtp.texts()[0]
    # Row bodies never travel: the rejected rows' company names and emails are in no message.
    for sent in [*(body.decode() for body in webhook.bodies), *smtp.texts()]:
        assert "tilit@aamukaste.fi" not in sent and "Aamukaste" not in sent

    assert run_once(config, sandbox_env(sandbox))[0] == 0
    assert len(webhook.documents) == 1


def test_file_moved_to_failed_is_told(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    config = setup(tmp_path, f'webhook_url = "{webhook.url}"\n')
    broken = tmp_path / "inbox" / "broken.xlsx"
    broken.write_bytes(b"%PDF-1.4 not a workbook")
    os.utime(broken, (time.time() - 60, time.time() - 60))
    assert run_once(config, sandbox_env(sandbox))[0] == 1
    (told,) = webhook.documents[0]["lac_batch"]["files"]
    assert told["trigger"] == "on_failed_file"
    assert told["failed"] == str(tmp_path / "failed" / "broken.xlsx")
    assert "is a PDF document" in told["error"]
    assert "*broken.xlsx* could not be read; moved to" in webhook.documents[0]["text"]


@pytest.mark.honours_idempotency_key  # two ledgers send the same rows: replays keep event_ids equal
def test_unreachable_webhook_leaves_exit_code_and_results_unchanged(
    tmp_path: Path, sandbox: Sandbox, closed_port: int
) -> None:
    plain = setup(tmp_path / "plain", "on_rows = true\n")
    drop_with_rejected_rows(tmp_path / "plain", rejected=3)
    unreachable = f"http://127.0.0.1:{closed_port}/services/hook-secret"
    notified = setup(tmp_path / "notified", f'webhook_url = "{unreachable}"\n')
    drop_with_rejected_rows(tmp_path / "notified", rejected=3)

    code, _ = run_once(plain, sandbox_env(sandbox))
    code_notified, output = run_once(notified, sandbox_env(sandbox))

    assert code == code_notified == 1

    def results(folder: str) -> list[dict[str, str]]:
        rows = read_results_csv(tmp_path / folder / "results" / "mixed.results.csv")
        # sent_to ends with when its run started: the two runs may start a second apart.
        return [{**row, "sent_to": row["sent_to"].split(" at ")[0]} for row in rows]

    assert results("plain") == results("notified")
    assert len(names(tmp_path / "notified" / "archive")) == 1
    log = (tmp_path / "notified" / "logs" / "run.log").read_text()
    for text in (output, log):
        assert "WARNING notification not delivered: webhook 127.0.0.1: ConnectError" in text
        assert "hook-secret" not in text


def test_lock_held_too_long_is_told_once_and_recovered(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    config = setup(tmp_path, f'webhook_url = "{webhook.url}"\n')
    drop(tmp_path, "requests.csv")
    env = {**sandbox_env(sandbox), "LAC_LOCK_WARN_AFTER": "1s"}
    with RunLock(tmp_path / "state" / "ledger.sqlite3"):
        time.sleep(1.1)
        assert run_once(config, env)[0] == 4
        assert run_once(config, env)[0] == 4
    assert [p["problem"] for p in webhook.documents[0]["lac_batch"]["problems"]] == ["lock_stuck"]
    assert f"pid {os.getpid()}" in webhook.documents[0]["text"]
    assert len(webhook.documents) == 1
    assert run_once(config, env)[0] == 0
    assert len(webhook.documents) == 2
    assert webhook.documents[1]["lac_batch"]["kind"] == "recovered"


def test_config_error_is_told_when_notify_can_be_read(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    config = setup(tmp_path, f'webhook_url = "{webhook.url}"\n', top='concurrency = "many"\n')
    code, output = run_once(config, sandbox_env(sandbox))
    assert code == 2 and "line 1: 'concurrency' must be auto or a whole number" in output
    assert len(webhook.documents) == 1
    (problem,) = webhook.documents[0]["lac_batch"]["problems"]
    assert problem["problem"] == "config_error" and "'concurrency' must be" in problem["summary"]
    assert run_once(config, sandbox_env(sandbox))[0] == 2
    assert len(webhook.documents) == 1

    config.write_text(config.read_text().replace('concurrency = "many"\n', ""))
    assert run_once(config, sandbox_env(sandbox))[0] == 0
    assert len(webhook.documents) == 2
    assert webhook.documents[1]["lac_batch"]["problems"][0]["state"] == "recovered"


def test_error_in_notify_itself_names_key_and_line_and_is_only_printed(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    config = setup(tmp_path, f'webhook_url = "{webhook.url}"\non_rows = "yes"\nwebhok = 1\n')
    code, output = run_once(config, sandbox_env(sandbox))
    assert code == 2
    assert "line 8: 'notify.on_rows' must be true or false, not 'yes'" in output
    assert "line 9: unknown key 'notify.webhok'" in output
    assert webhook.documents == []


def test_a_trigger_switched_off_tells_nothing(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    config = setup(tmp_path, f'on_auth = false\nwebhook_url = "{webhook.url}"\n')
    drop(tmp_path, "requests.csv")
    assert run_once(config, sandbox_env(sandbox, REVOKED))[0] == 3
    assert webhook.documents == []


def test_smtp_login_with_a_private_password_file(
    tmp_path: Path, sandbox: Sandbox, smtp: SmtpReceiver
) -> None:
    password_file = tmp_path / "smtp-password"
    password_file.write_text(SMTP_PASSWORD + "\n")
    password_file.chmod(0o600)
    login = f'user = "{SMTP_USER}"\npassword_file = "smtp-password"\n'
    config = setup(tmp_path, email_table(smtp, login))
    drop(tmp_path, "requests.csv")
    code, output = run_once(config, sandbox_env(sandbox, REVOKED))
    assert code == 3 and "Warning" not in output
    assert smtp.logins == [SMTP_USER] and len(smtp.messages) == 1
    assert SMTP_PASSWORD not in (tmp_path / "logs" / "run.log").read_text()


def test_password_file_others_can_read_is_refused_without_changing_the_run(
    tmp_path: Path, sandbox: Sandbox, smtp: SmtpReceiver
) -> None:
    password_file = tmp_path / "smtp-password"
    password_file.write_text(SMTP_PASSWORD)
    password_file.chmod(0o644)
    login = f'user = "{SMTP_USER}"\npassword_file = "smtp-password"\n'
    config = setup(tmp_path, email_table(smtp, login))
    drop(tmp_path, "requests.csv")
    code, output = run_once(config, sandbox_env(sandbox, REVOKED))
    assert code == 3
    assert "notification not delivered: email to ops@example.fi" in output
    assert "chmod 600" in output and SMTP_PASSWORD not in output
    assert smtp.messages == []


def run_a_file_with_invalid_rows(tmp_path: Path, sandbox: Sandbox, notify: str) -> None:
    config = setup(tmp_path, notify)
    drop(tmp_path, "requests-with-errors.csv")
    assert run_once(config, sandbox_env(sandbox))[0] == 1


def test_invalid_rows_are_told_with_their_count_and_first_errors(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    run_a_file_with_invalid_rows(tmp_path, sandbox, f'webhook_url = "{webhook.url}"\n')
    assert names(tmp_path / "inbox") == []  # archived, as before: now someone hears of it
    (told,) = webhook.documents[0]["lac_batch"]["files"]
    assert told["trigger"] == "on_invalid"
    assert told["counts"] == {"accepted": 1, "invalid": 5}
    assert [error["row"] for error in told["row_errors"]] == [3, 4, 5, 6, 7]
    assert {error["status"] for error in told["row_errors"]} == {"invalid"}
    assert "connection_key: is empty" in told["row_errors"][0]["error"]
    assert "5 invalid rows were not sent" in webhook.documents[0]["text"]


def test_on_invalid_can_be_turned_off(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    notify = f'on_invalid = false\nwebhook_url = "{webhook.url}"\n'
    run_a_file_with_invalid_rows(tmp_path, sandbox, notify)
    assert webhook.documents == []


def test_results_not_written_after_sending_is_told_once_and_recovered(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    config = setup(tmp_path, f'webhook_url = "{webhook.url}"\n')
    drop(tmp_path, "requests.csv")
    disk_full = pytest.MonkeyPatch()
    _disk_full_except_under(disk_full, None)
    try:
        assert run_once(config, sandbox_env(sandbox))[0] == 5
        assert run_once(config, sandbox_env(sandbox))[0] == 5  # still full: told once only
    finally:
        disk_full.undo()
    assert len(webhook.documents) == 1
    told = webhook.documents[0]["lac_batch"]
    assert told["exit_code"] == 5
    ((problem, state, summary),) = [
        (p["problem"], p["state"], p["summary"]) for p in told["problems"]
    ]
    assert (problem, state) == ("results_not_written", "started")
    assert summary.startswith("requests.csv: 36 rows: accepted 36; 36 rows were sent")
    assert "No space left on device" in summary and "lac-batch report --file" in summary
    assert (
        "Rows were sent but their results file could not be written"
        in (webhook.documents[0]["text"])
    )

    assert run_once(config, sandbox_env(sandbox))[0] == 0  # the pass writes them from the ledger
    assert len(webhook.documents) == 2
    recovered = webhook.documents[1]["lac_batch"]
    assert [(p["problem"], p["state"]) for p in recovered["problems"]] == [
        ("results_not_written", "recovered")
    ]
