"""Many companies in one sheet: a keys file gives each customer_id its own key and account."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import csv_text, read_results_csv, run_cli

from lac_batch.sandbox import SandboxKey, running_sandbox

COMPANIES = {
    "company-a": "lac_sk_company_a_123456",
    "company-b": "lac_sk_company_b_654321",
    "company-c": "lac_sk_company_c_111111",
}
ENV = {f"LAC_KEY_{cid[-1].upper()}": key for cid, key in COMPANIES.items()}


def keys_file(tmp_path: Path, companies: dict[str, str] | None = None) -> Path:
    path = tmp_path / "keys.toml"
    lines = []
    for customer_id in companies or COMPANIES:
        lines += [
            f'[customers."{customer_id}"]',
            f'account = "acct-{customer_id[-1]}"',
            f'env = "LAC_KEY_{customer_id[-1].upper()}"',
            "",
        ]
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def sheet(tmp_path: Path, customers: list[str]) -> Path:
    path = tmp_path / "clients.csv"
    rows = [["connection_key", "request_type", "customer_id", "note"]]
    rows += [["bank", "setup", customer, f"row {n}"] for n, customer in enumerate(customers)]
    path.write_text(csv_text(rows))
    return path


CUSTOMERS = ["company-a", "company-b", "company-c"] * 4


def sandbox_keys() -> list[SandboxKey]:
    return [SandboxKey(key, "write", cid) for cid, key in COMPANIES.items()]


def submit(path: Path, keys: Path, base_url: str, *extra: str) -> tuple[int, str]:
    outcome = run_cli(
        "submit",
        path,
        "--keys-file",
        keys,
        "--rate",
        "300",
        "--base-url",
        base_url,
        *extra,
        env={**ENV, "LAC_API_KEY": ""},
    )
    return outcome.exit_code, outcome.output


def test_each_row_is_sent_with_its_companys_key(tmp_path: Path) -> None:
    path = sheet(tmp_path, CUSTOMERS)
    with running_sandbox(keys=sandbox_keys()) as server:
        code, output = submit(path, keys_file(tmp_path), server.base_url)
        events = server.events()
    assert code == 0, output
    assert Counter(event.company_id for event in events) == {
        "company-a": 4,
        "company-b": 4,
        "company-c": 4,
    }
    assert all(event.body["customer_id"] == event.company_id for event in events)
    for secret in COMPANIES.values():
        assert secret not in output


def test_a_revoked_key_stops_only_its_companys_rows(tmp_path: Path) -> None:
    path = sheet(tmp_path, CUSTOMERS)
    with running_sandbox(keys=sandbox_keys()) as server:
        server.revoke_key(COMPANIES["company-b"])
        code, _ = submit(path, keys_file(tmp_path), server.base_url, "--concurrency", "1")
        events = server.events()
    assert code == 3
    rows = read_results_csv(tmp_path / "clients.results.csv")
    by_company: dict[str, Counter[str]] = {}
    for row in rows:
        by_company.setdefault(row["customer_id"], Counter())[row["status"]] += 1
    assert by_company == {
        "company-a": {"accepted": 4},
        "company-b": {"not_sent": 4},
        "company-c": {"accepted": 4},
    }
    refused = [row for row in rows if row["status"] == "not_sent"]
    assert all("account acct-b was refused (401)" in row["error"] for row in refused)
    assert {event.company_id for event in events} == {"company-a", "company-c"}


def test_customer_without_a_key_is_invalid_before_sending(tmp_path: Path) -> None:
    path = sheet(tmp_path, ["company-a", "company-x", ""])
    with running_sandbox(keys=sandbox_keys()) as server:
        code, _ = submit(path, keys_file(tmp_path), server.base_url)
        assert len(server.events()) == 1
    assert code == 1
    rows = read_results_csv(tmp_path / "clients.results.csv")
    assert [row["status"] for row in rows] == ["accepted", "invalid", "invalid"]
    assert "no API key configured for customer 'company-x'" in rows[1]["error"]
    assert "picks its key" in rows[2]["error"]


def test_rotating_one_companys_key_keeps_the_ledgers_memory(tmp_path: Path) -> None:
    path = sheet(tmp_path, CUSTOMERS)
    keys = keys_file(tmp_path)
    rotated = "lac_sk_company_a_ROTATED"
    with running_sandbox(
        keys=[*sandbox_keys(), SandboxKey(rotated, "write", "company-a")]
    ) as server:
        assert submit(path, keys, server.base_url)[0] == 0
        server.revoke_key(COMPANIES["company-a"])
        outcome = run_cli(
            "submit",
            path,
            "--keys-file",
            keys,
            "--rate",
            "300",
            "--base-url",
            server.base_url,
            env={**ENV, "LAC_KEY_A": rotated},
        )
        assert len(server.events()) == 12
    assert outcome.exit_code == 0, outcome.output
    # The first run's results record sent rows, so they are kept: these went to a new name.
    rows = read_results_csv(tmp_path / "clients.results.2.csv")
    assert {row["status"] for row in rows} == {"skipped"}


def test_sheet_without_customer_id_column_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_text("connection_key,request_type\nbank,setup\n")
    outcome = run_cli("submit", path, "--keys-file", keys_file(tmp_path), env=ENV)
    assert outcome.exit_code == 2
    assert "no customer_id column" in outcome.stderr


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[customers."a"]\nenv = "X"\n', "needs an account name"),
        ('[customers."a"]\naccount = "x"\n', "exactly one of env"),
        ('[customers."a"]\naccount = "x"\nenv = "NOT_SET_ANYWHERE"\n', "holds no API key"),
        (
            '[customers."a"]\naccount = "x"\nenv = "LAC_KEY_A"\n[customers."b"]\naccount = "x"\n'
            'env = "LAC_KEY_B"\n',
            "account names must differ",
        ),
        ("rate = 5\n", "one [customers"),
    ],
)
def test_keys_file_mistakes_are_clear(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    path.chmod(0o600)
    outcome = run_cli("submit", sheet(tmp_path, ["a"]), "--keys-file", path, env=ENV)
    assert outcome.exit_code == 2
    assert fragment in outcome.stderr


def test_keys_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = keys_file(tmp_path)
    path.chmod(0o644)
    outcome = run_cli("submit", sheet(tmp_path, ["company-a"]), "--keys-file", path, env=ENV)
    assert outcome.exit_code == 2
    assert "chmod 600" in outcome.stderr
