"""`lac-batch notify test`: a test message to every target, and which one failed."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli
from notify_receivers import SmtpReceiver, WebhookReceiver, closed_port, smtp, webhook

__all__ = ["closed_port", "smtp", "webhook"]  # fixtures used by the tests below


def config_with(tmp_path: Path, webhook_url: str, smtp_port: int) -> Path:
    path = tmp_path / "lac-batch.toml"
    path.write_text(
        f'[notify]\nwebhook_url = "{webhook_url}"\n[notify.email]\nhost = "127.0.0.1"\n'
        f'port = {smtp_port}\nsecurity = "none"\nfrom = "lac-batch@example.fi"\n'
        'to = "ops@example.fi"\n',
        encoding="utf-8",
    )
    return path


def test_notify_test_delivers_to_every_target(
    tmp_path: Path, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    config = config_with(tmp_path, webhook.url, smtp.port)
    outcome = run_cli("notify", "test", "--config", config)
    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout.splitlines() == [
        "webhook 127.0.0.1: delivered",
        "email to ops@example.fi via 127.0.0.1: delivered",
    ]
    assert webhook.documents[0]["lac_batch"]["kind"] == "test"
    assert str(config) in webhook.documents[0]["text"]
    assert smtp.messages[0]["Subject"].endswith(": test message")
    assert "hook-secret" not in outcome.output


def test_notify_test_exits_1_naming_the_target_that_failed(
    tmp_path: Path, smtp: SmtpReceiver, closed_port: int
) -> None:
    config = config_with(tmp_path, f"http://127.0.0.1:{closed_port}/hook-secret", smtp.port)
    outcome = run_cli("notify", "test", "--config", config)
    assert outcome.exit_code == 1
    assert "email to ops@example.fi via 127.0.0.1: delivered" in outcome.stdout
    assert "Not delivered: webhook 127.0.0.1: ConnectError" in outcome.stderr
    assert "1 of 2 targets failed: webhook 127.0.0.1" in outcome.stderr
    assert len(smtp.messages) == 1
    assert "hook-secret" not in outcome.output


def test_a_webhook_answering_an_error_is_not_delivered(
    tmp_path: Path, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    webhook.status, webhook.answer = 404, b"no_service"
    outcome = run_cli("notify", "test", "--config", config_with(tmp_path, webhook.url, smtp.port))
    assert outcome.exit_code == 1
    assert "Not delivered: webhook 127.0.0.1: answered 404 Not Found: no_service" in outcome.stderr


def test_notify_test_without_targets_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text("[notify]\non_rows = true\n", encoding="utf-8")
    outcome = run_cli("notify", "test", "--config", config)
    assert outcome.exit_code == 2
    assert "no notification targets" in outcome.stderr
