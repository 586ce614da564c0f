"""`lac-batch submit` end to end, through the CLI, against the sandbox on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from conftest import HEADER, SAMPLES, csv_text, read_results_csv, run_cli, sandbox_env

from lac_batch.sandbox import SANDBOX_READ_KEY, FaultConfig, Sandbox

FAST = ["--rate", "200", "--concurrency", "8"]


def sample(tmp_path: Path, name: str = "requests.csv") -> Path:
    return Path(shutil.copy(SAMPLES / name, tmp_path / name))


def results_of(path: Path) -> list[dict[str, str]]:
    return read_results_csv(path.with_name(path.stem + ".results.csv"))


def status_counts(rows: list[dict[str, str]]) -> Counter[str]:
    return Counter(row["status"] for row in rows)


def test_sample_all_accepted_with_one_event_per_row(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    outcome = run_cli("submit", path, *FAST, env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    rows = results_of(path)
    assert status_counts(rows) == {"accepted": 36}
    events = sandbox.events()
    assert len(events) == 36
    assert sorted(row["event_id"] for row in rows) == sorted(event.event_id for event in events)
    assert {row["http_status"] for row in rows} == {"202"}
    assert {row["attempts"] for row in rows} == {"1"}
    assert "36 rows: accepted 36" in outcome.stdout


def test_xlsx_sample_writes_xlsx_results(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path, "requests.xlsx")
    outcome = run_cli("submit", path, *FAST, env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "requests.results.xlsx").exists()
    assert len(sandbox.events()) == 36


def test_429_with_retry_after_is_honoured(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(p_429=0.1, retry_after_s=1, seed=4))
    path = sample(tmp_path)
    outcome = run_cli("submit", path, *FAST, "--max-attempts", "1", env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    rows = results_of(path)
    assert status_counts(rows) == {"accepted": 36}
    assert len(sandbox.events()) == 36
    assert sum(int(row["attempts"]) for row in rows) > 36


def test_503_is_retried_to_success(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(p_503=0.2, seed=5))
    path = sample(tmp_path)
    outcome = run_cli("submit", path, *FAST, "--max-attempts", "10", env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    assert status_counts(results_of(path)) == {"accepted": 36}
    assert len(sandbox.events()) == 36


def test_invalid_key_aborts_with_not_sent_and_exit_3(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    outcome = run_cli("submit", path, *FAST, env=sandbox_env(sandbox, "lac_sk_wrong_key_000"))
    assert outcome.exit_code == 3
    assert "invalid, revoked or expired" in outcome.stderr
    assert status_counts(results_of(path)) == {"not_sent": 36}
    assert sandbox.events() == []


def test_read_scoped_key_aborts_saying_write_scope(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    outcome = run_cli("submit", path, *FAST, env=sandbox_env(sandbox, SANDBOX_READ_KEY))
    assert outcome.exit_code == 3
    assert "write scope" in outcome.stderr
    assert status_counts(results_of(path)) == {"not_sent": 36}


def test_422_is_rejected_with_the_detail(tmp_path: Path, sandbox: Sandbox) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        csv_text([HEADER, ["bank", "setup", "another-company", ""], ["bank", "x", "", ""]])
    )
    outcome = run_cli("submit", path, *FAST, env=sandbox_env(sandbox))
    assert outcome.exit_code == 1
    first, second = results_of(path)
    assert (first["status"], first["http_status"]) == ("rejected", "422")
    assert "customer_id" in first["error"]
    assert second["status"] == "accepted"


def test_closed_after_processing_is_unknown_and_not_resent(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    sandbox.set_faults(FaultConfig(p_close_after=1.0))
    path = sample(tmp_path)
    outcome = run_cli("submit", path, *FAST, env=sandbox_env(sandbox))
    assert outcome.exit_code == 1
    rows = results_of(path)
    assert status_counts(rows) == {"unknown": 36}
    assert {row["attempts"] for row in rows} == {"1"}
    assert "may have been processed" in rows[0]["error"]
    assert len(sandbox.events()) == 36


@pytest.mark.honours_idempotency_key  # --retry-ambiguous is for servers that honour the key
def test_retry_ambiguous_gives_exactly_one_event_per_row(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(p_close_after=0.1, p_close_before=0.05, p_500=0.05, seed=9))
    path = sample(tmp_path)
    outcome = run_cli(
        "submit",
        path,
        *FAST,
        "--retry-ambiguous",
        "--max-attempts",
        "20",
        env=sandbox_env(sandbox),
    )
    assert outcome.exit_code == 0, outcome.output
    rows = results_of(path)
    assert status_counts(rows) == {"accepted": 36}
    events = sandbox.events()
    assert len(events) == 36
    assert len({event.idempotency_key for event in events}) == 36
    assert sorted(row["event_id"] for row in rows) == sorted(event.event_id for event in events)


def test_dry_run_shows_first_body_and_sends_nothing(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    outcome = run_cli("submit", path, "--dry-run", env=sandbox_env(sandbox))
    assert outcome.exit_code == 0
    assert '"connection_key": "bank:nordea"' in outcome.stdout
    assert "nothing was sent" in outcome.stdout
    assert status_counts(results_of(path)) == {"valid": 36}
    assert sandbox.events() == []


def test_require_all_valid_sends_nothing_when_a_row_is_invalid(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    path = sample(tmp_path, "requests-with-errors.csv")
    outcome = run_cli("submit", path, "--require-all-valid", env=sandbox_env(sandbox))
    assert outcome.exit_code == 1
    assert status_counts(results_of(path)) == {"invalid": 5, "not_sent": 1}
    assert sandbox.events() == []


def test_invalid_rows_are_never_sent(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path, "requests-with-errors.csv")
    outcome = run_cli("submit", path, *FAST, env=sandbox_env(sandbox))
    assert outcome.exit_code == 1
    assert status_counts(results_of(path)) == {"invalid": 5, "accepted": 1}
    assert len(sandbox.events()) == 1


def test_missing_key_is_an_error_before_reading(tmp_path: Path) -> None:
    outcome = run_cli("submit", tmp_path / "does-not-exist.csv", env={"LAC_API_KEY": ""})
    assert outcome.exit_code == 2
    assert "no API key" in outcome.stderr and "LAC_API_KEY" in outcome.stderr


def test_key_file_is_read(tmp_path: Path, sandbox: Sandbox) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text("lac_sk_sandbox_write\n")
    key_file.chmod(0o600)
    path = sample(tmp_path)
    outcome = run_cli(
        "submit",
        path,
        *FAST,
        "--api-key-file",
        key_file,
        "--base-url",
        sandbox.base_url,
        env={"LAC_API_KEY": ""},
    )
    assert outcome.exit_code == 0, outcome.output


def test_plain_http_is_refused_except_to_loopback(tmp_path: Path) -> None:
    path = sample(tmp_path)
    outcome = run_cli(
        "submit",
        path,
        "--base-url",
        "http://api.example.test/portal",
        env={"LAC_API_KEY": "lac_sk_x"},
    )
    assert outcome.exit_code == 2
    assert "plain http" in outcome.stderr


def test_wrong_base_url_stops_and_mentions_portal(tmp_path: Path, sandbox: Sandbox) -> None:
    path = sample(tmp_path)
    root = sandbox.base_url.removesuffix("/portal")
    outcome = run_cli(
        "submit",
        path,
        "--concurrency",
        "1",
        "--rate",
        "200",
        env={"LAC_API_KEY": "lac_sk_sandbox_write", "LAC_BASE_URL": root},
    )
    assert outcome.exit_code == 2
    assert "/portal" in outcome.stderr
    assert status_counts(results_of(path)) == {"failed": 3, "not_sent": 33}


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text("lac_sk_sandbox_write\n")
    key_file.chmod(0o644)
    outcome = run_cli("submit", sample(tmp_path), "--api-key-file", key_file)
    assert outcome.exit_code == 2
    assert "chmod 600" in outcome.stderr


def test_summary_shows_the_latency_and_the_concurrency_in_use(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    path = sample(tmp_path)
    outcome = run_cli("submit", path, "--rate", "200", env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    assert "s on average; concurrency " in outcome.stdout
    assert "(auto)." in outcome.stdout
