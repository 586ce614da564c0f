"""`lac-batch submit --notify-webhook URL --notify-email ADDRESS`: the same messages as `run`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES, run_cli, sandbox_env
from notify_receivers import SmtpReceiver, WebhookReceiver, smtp, webhook
from test_notify_run import REVOKED, drop_with_rejected_rows
from test_results_unwritable import _disk_full_except_under

from lac_batch.files.results import results_fallback_folder
from lac_batch.sandbox import Sandbox

__all__ = ["smtp", "webhook"]  # fixtures used by the tests below


def test_rows_not_ok_are_told_after_the_summary(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    (tmp_path / "inbox").mkdir()
    source = drop_with_rejected_rows(tmp_path, rejected=2)
    flags = ("--notify-webhook", webhook.url, "--rate", "300")
    outcome = run_cli("submit", source, *flags, env=sandbox_env(sandbox))
    assert outcome.exit_code == 1
    told = webhook.documents[0]["lac_batch"]
    assert told["command"] == "submit" and told["exit_code"] == 1
    (file,) = told["files"]
    assert file["counts"] == {"accepted": 34, "rejected": 2}
    assert [error["row"] for error in file["row_errors"]] == [2, 3]
    assert file["results"] == str(tmp_path / "inbox" / "mixed.results.csv")


def test_refused_key_is_told_once_and_recovered(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    def submit(key: str) -> int:
        flags = ("--notify-webhook", webhook.url, "--rate", "300", "--results", tmp_path / "o.csv")
        outcome = run_cli("submit", SAMPLES / "requests.csv", *flags, env=sandbox_env(sandbox, key))
        return outcome.exit_code

    assert (submit(REVOKED), submit(REVOKED)) == (3, 3)
    assert [d["lac_batch"]["problems"][0]["state"] for d in webhook.documents] == ["started"]
    assert submit(sandbox_env(sandbox)["LAC_API_KEY"]) == 0
    assert [d["lac_batch"]["kind"] for d in webhook.documents] == ["attention", "recovered"]
    assert all(REVOKED.encode() not in body for body in webhook.bodies)


def test_notify_email_uses_the_smtp_server_of_the_config(
    tmp_path: Path, sandbox: Sandbox, smtp: SmtpReceiver
) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        f'[notify.email]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n'
        'from = "lac-batch@example.fi"\nto = "ops@example.fi"\n',
        encoding="utf-8",
    )
    flags = ("--config", config, "--notify-email", "me@example.fi", "--results", tmp_path / "o.csv")
    outcome = run_cli("submit", SAMPLES / "requests.csv", *flags, env=sandbox_env(sandbox, REVOKED))
    assert outcome.exit_code == 3
    assert [message["To"] for message in smtp.messages] == ["me@example.fi"]


def test_notify_email_without_an_smtp_server_sends_nothing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    outcome = run_cli(
        "submit",
        SAMPLES / "requests.csv",
        "--notify-email",
        "me@example.fi",
        "--results",
        tmp_path / "o.csv",
        env=sandbox_env(sandbox),
    )
    assert outcome.exit_code == 2
    assert "--notify-email needs the SMTP server" in outcome.stderr
    assert sandbox.events() == []


def test_invalid_rows_are_told_by_submit(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver
) -> None:
    source = Path(shutil.copy(SAMPLES / "requests-with-errors.csv", tmp_path / "errors.csv"))
    flags = ("--notify-webhook", webhook.url, "--rate", "300")
    outcome = run_cli("submit", source, *flags, env=sandbox_env(sandbox))
    assert outcome.exit_code == 1
    (file,) = webhook.documents[0]["lac_batch"]["files"]
    assert file["trigger"] == "on_invalid"
    assert file["counts"] == {"accepted": 1, "invalid": 5}
    assert [error["row"] for error in file["row_errors"]] == [3, 4, 5, 6, 7]


def test_results_in_the_fallback_folder_are_told_with_where_they_are(
    tmp_path: Path, sandbox: Sandbox, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    _disk_full_except_under(monkeypatch, results_fallback_folder())
    flags = ("--notify-webhook", webhook.url, "--rate", "300")
    outcome = run_cli("submit", source, *flags, env=sandbox_env(sandbox))
    assert outcome.exit_code == 5, outcome.output
    (fallback,) = results_fallback_folder().iterdir()
    (document,) = webhook.documents
    ((problem, summary),) = [
        (p["problem"], p["summary"]) for p in document["lac_batch"]["problems"]
    ]
    assert problem == "results_not_written"
    assert summary.startswith("requests.csv: 36 rows were sent")
    assert str(fallback) in summary and f"lac-batch report --file {source}" in summary
