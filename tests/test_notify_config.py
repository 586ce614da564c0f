"""The `[notify]` table: every mistake names its key and line; `config check` shows the targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from lac_batch.model.errors import ConfigError
from lac_batch.notify.settings import (
    NotifySettings,
    Security,
    Trigger,
    WebhookFormat,
    load_notify_settings,
)
from lac_batch.settings.config import load_config

EMAIL = (
    '[notify.email]\nhost = "smtp.example.fi"\nfrom = "lac-batch@example.fi"\n'
    'to = "ops@example.fi"\n'
)


def notify_of(tmp_path: Path, text: str) -> NotifySettings:
    path = tmp_path / "lac-batch.toml"
    path.write_text(text, encoding="utf-8")
    return load_notify_settings(load_config(path))


def test_a_full_table_is_read_with_defaults_filled_in(tmp_path: Path) -> None:
    settings = notify_of(
        tmp_path,
        '[notify]\non_rows = false\nwebhook_url = "https://hooks.slack.com/services/T/B/x"\n'
        'webhook_format = "teams"\n'
        + EMAIL.replace('"ops@example.fi"', '["a@x.fi", "b@x.fi"]')
        + 'user = "lac"\npassword_env = "LAC_SMTP_PASSWORD"\n',
    )
    assert settings.triggers == frozenset(Trigger) - {Trigger.ROWS}
    assert settings.webhook is not None and settings.webhook.format is WebhookFormat.TEAMS
    email = settings.email
    assert email is not None
    assert (email.port, email.security, email.recipients) == (
        587,
        Security.STARTTLS,
        ("a@x.fi", "b@x.fi"),
    )
    assert (email.user, email.password_env) == ("lac", "LAC_SMTP_PASSWORD")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[notify]\non_rows = 1\n", "line 2: 'notify.on_rows' must be true or false, not 1"),
        (
            "[notify]\non_rowz = true\n",
            "line 2: unknown key 'notify.on_rowz'; did you mean 'notify.on_rows'? (known keys:",
        ),
        (
            '[notify]\nwebhook_url = "http://hooks.example.fi/x"\n',
            "line 2: 'notify.webhook_url' must be an https:// URL (plain http only to this",
        ),
        (
            '[notify]\nwebhook_format = "discord"\n',
            "line 2: 'notify.webhook_format' must be 'slack' or 'teams', not 'discord'",
        ),
        (EMAIL + "port = '587'\n", "line 5: 'notify.email.port' must be a port number"),
        (
            EMAIL + "security = 'ssl'\n",
            "line 5: 'notify.email.security' must be 'starttls' or 'tls' or 'none'",
        ),
        (EMAIL + "tls = true\n", "line 5: unknown key 'notify.email.tls'"),
        (EMAIL.replace('"ops@example.fi"', "[]"), "line 4: 'notify.email.to' must be an email"),
        (EMAIL.replace("from", "sender"), "line 1: [notify.email] needs 'from'"),
        (EMAIL + 'user = "lac"\n', "line 1: [notify.email] needs 'user' and one of"),
        (
            EMAIL + 'user = "lac"\npassword_env = "P"\npassword_file = "p"\n',
            "line 7: give 'notify.email.password_env' or 'notify.email.password_file', not both",
        ),
        (
            EMAIL + 'user = "lac"\npassword_env = "P"\nsecurity = "none"\n',
            "line 7: security = 'none' would send the SMTP password unencrypted",
        ),
        (
            EMAIL + 'password_env = "NOT A NAME"\nuser = "lac"\n',
            "line 5: 'notify.email.password_env' must be the name of an environment variable",
        ),
    ],
)
def test_each_mistake_names_key_and_line(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        notify_of(tmp_path, table)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "lac-batch.toml"))


def test_every_mistake_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        notify_of(tmp_path, "[notify]\non_auth = 'no'\nextra = 1\n")
    assert "line 2: 'notify.on_auth'" in str(caught.value)
    assert "line 3: unknown key 'notify.extra'" in str(caught.value)


def test_plain_smtp_with_a_password_is_allowed_to_this_machine(tmp_path: Path) -> None:
    text = EMAIL.replace("smtp.example.fi", "127.0.0.1")
    settings = notify_of(tmp_path, text + 'user = "u"\npassword_env = "P"\nsecurity = "none"\n')
    assert settings.email is not None and settings.email.port == 25


def test_config_check_shows_targets_by_host_never_the_hook_path_or_password(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lac-batch.toml"
    path.write_text(
        '[notify]\non_rows = false\nwebhook_url = "https://hooks.slack.com/services/T1/B2/s3cr3t"\n'
        f'{EMAIL}user = "lac"\npassword_env = "LAC_SMTP_PASSWORD"\n',
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir()
    outcome = run_cli(
        "config",
        "check",
        "--config",
        path,
        env={"LAC_SMTP_PASSWORD": "hunter2-smtp", "LAC_API_KEY": "lac_sk_live_0123456789abcdef"},
    )
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.stdout.splitlines()
    notifications = lines[lines.index("Notifications:") :]
    assert notifications == [
        "Notifications:",
        "  webhook  hooks.slack.com (slack)",
        "  email    smtp.example.fi:587 starttls, user lac, password from env "
        "LAC_SMTP_PASSWORD, from lac-batch@example.fi to ops@example.fi",
        "  triggers on_invalid, on_failed_file, on_auth, on_cannot_start, on_new_ledger, "
        "on_results_not_written",
    ]
    assert "s3cr3t" not in outcome.output and "hunter2-smtp" not in outcome.output


def test_config_check_fails_on_a_notify_mistake(tmp_path: Path) -> None:
    path = tmp_path / "lac-batch.toml"
    path.write_text("rate = 5\n[notify]\non_rows = 'sometimes'\n", encoding="utf-8")
    outcome = run_cli("config", "check", "--config", path)
    assert outcome.exit_code == 2
    assert "line 3: 'notify.on_rows' must be true or false" in outcome.stderr
