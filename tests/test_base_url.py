"""The base URL: a bad one is a usage error before anything is read or sent, a sandbox key stays
on this machine, and a wrong one (all 404s) is not the rows' fault."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES, read_results_csv, run_cli

from lac_batch.sandbox import SANDBOX_WRITE_KEY, Sandbox

KEY = "lac_sk_live_abcdefghijklmnop"

BAD_URLS = [
    ("http://[::1/portal", "Invalid IPv6 URL"),
    ("http://127.0.0.1:99999/portal", "port"),
    ("http://127.0.0.1:abc/portal", "port"),
    ("http://127.0.0.1:0/portal", "port"),
    ("   ", "empty"),
]


def sample(tmp_path: Path) -> Path:
    return Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))


def submit_with_url(tmp_path: Path, url: str, where: str, key: str = KEY) -> tuple[int, str]:
    """Run ``submit`` with ``url`` given as a flag, an environment variable or a config value."""
    args: list[str | Path] = ["submit", sample(tmp_path)]
    env = {"LAC_API_KEY": key}
    if where == "flag":
        args += ["--base-url", url]
    elif where == "env":
        env["LAC_BASE_URL"] = url
    else:
        config = tmp_path / "lac-batch.toml"
        config.write_text(f"base_url = {url!r}\n", encoding="utf-8")
        args += ["--config", config]
    outcome = run_cli(*args, env=env)
    return outcome.exit_code, outcome.stderr


@pytest.mark.parametrize("where", ["flag", "env", "config"])
@pytest.mark.parametrize(("url", "problem"), BAD_URLS)
def test_a_bad_base_url_is_exit_2_before_anything_is_read_or_sent(
    tmp_path: Path, private_ledger: Path, url: str, problem: str, where: str
) -> None:
    exit_code, stderr = submit_with_url(tmp_path, url, where)
    assert exit_code == 2
    assert stderr.startswith("Error: ") and stderr.count("\n") == 1  # one paragraph
    assert any(name in stderr for name in ("base URL", "base_url", "--base-url", "LAC_BASE_URL"))
    assert problem in stderr
    assert not (tmp_path / "requests.results.csv").exists()
    assert not private_ledger.exists()


@pytest.mark.parametrize("where", ["flag", "env", "config"])
def test_a_sandbox_key_never_leaves_this_machine(
    tmp_path: Path, private_ledger: Path, where: str
) -> None:
    exit_code, stderr = submit_with_url(
        tmp_path, "https://api.example.test/portal", where, key=SANDBOX_WRITE_KEY
    )
    assert exit_code == 2
    assert "sandbox key" in stderr and "api.example.test" in stderr
    assert SANDBOX_WRITE_KEY not in stderr
    assert not (tmp_path / "requests.results.csv").exists()
    assert not private_ledger.exists()


def test_a_sandbox_key_in_a_keys_file_never_leaves_this_machine(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(
        '[customers."0123456-7"]\naccount = "kahvila"\nenv = "LAC_KEY_KAHVILA"\n', encoding="utf-8"
    )
    keys.chmod(0o600)
    outcome = run_cli(
        "submit",
        sample(tmp_path),
        "--keys-file",
        keys,
        "--base-url",
        "https://api.example.test/portal",
        env={"LAC_KEY_KAHVILA": SANDBOX_WRITE_KEY},
    )
    assert outcome.exit_code == 2
    assert "sandbox key" in outcome.stderr and "kahvila" in outcome.stderr


def test_run_refuses_a_bad_base_url_from_its_config_file(tmp_path: Path) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text('base_url = "http://127.0.0.1:99999/portal"\n', encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    sample(tmp_path / "inbox")
    outcome = run_cli("run", "--once", "--config", config, env={"LAC_API_KEY": KEY})
    assert outcome.exit_code == 2
    assert "99999" in outcome.stderr
    assert (tmp_path / "inbox" / "requests.csv").exists()
    assert not (tmp_path / "archive").exists()


def test_a_wrong_base_url_fails_its_rows_once_and_says_which_url_was_meant(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    path = sample(tmp_path)
    root = sandbox.base_url.removesuffix("/portal")
    env = {"LAC_API_KEY": SANDBOX_WRITE_KEY, "LAC_BASE_URL": root}
    outcome = run_cli("submit", path, "--concurrency", "8", "--rate", "200", env=env)
    assert outcome.exit_code == 2
    rows = read_results_csv(tmp_path / "requests.results.csv")
    statuses = {row["status"] for row in rows}
    assert statuses <= {"failed", "not_sent"}, statuses
    failed = [row for row in rows if row["status"] == "failed"]
    assert len(failed) >= 3
    assert {row["http_status"] for row in failed} == {"404"}
    # Said once, with the URL that was probably meant; never "nothing was sent".
    assert outcome.output.count(f"{sandbox.base_url}") == 1
    assert outcome.output.count("404 Not Found") == 1
    assert "nothing was sent" not in outcome.output.lower()
    # Failed rows are safe to send again: the corrected URL sends every row, once.
    env["LAC_BASE_URL"] = sandbox.base_url
    again = run_cli("submit", path, "--rate", "200", env=env)
    assert again.exit_code == 0, again.output
    assert len(sandbox.events()) == len(rows)
