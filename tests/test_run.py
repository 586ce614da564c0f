"""`lac-batch run`: the inbox, archive, results and failed folders, for schedulers."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import SAMPLES, csv_text, read_results_csv, run_cli, sandbox_env

from lac_batch.cli.wording import inbox_name
from lac_batch.ledger.lock import RunLock
from lac_batch.ledger.store import Ledger
from lac_batch.model.wording import Option, naming, option_name
from lac_batch.sandbox import FaultConfig, Sandbox, running_sandbox


@pytest.fixture(autouse=True)
def ledger_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests name the ledger in lac-batch.toml, which LAC_LEDGER would override."""
    monkeypatch.delenv("LAC_LEDGER", raising=False)


def setup(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        f'rate = 300\nsettle_seconds = 0\nledger = "state/ledger.sqlite3"\n'
        f'log_file = "logs/run.log"\n{extra}',
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()
    # An existing ledger, as in service; a new one is announced (test_ledger_location.py).
    Ledger.open(tmp_path / "state" / "ledger.sqlite3").close()
    return config


def drop(tmp_path: Path, sample: str, name: str | None = None) -> Path:
    target = tmp_path / "inbox" / (name or sample)
    shutil.copy(SAMPLES / sample, target)
    old = time.time() - 60
    os.utime(target, (old, old))
    return target


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_inbox_with_valid_partly_invalid_and_unreadable_files(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = setup(tmp_path)
    drop(tmp_path, "requests.csv", "a-valid.csv")
    drop(tmp_path, "requests-with-errors.csv", "b-mixed.csv")
    broken = tmp_path / "inbox" / "c-broken.xlsx"
    broken.write_bytes(b"%PDF-1.4 not a workbook")
    os.utime(broken, (time.time() - 60, time.time() - 60))

    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    assert outcome.exit_code == 1, outcome.output
    assert names(tmp_path / "inbox") == []
    archived = names(tmp_path / "archive")
    assert [name.split(".")[0] for name in archived] == ["a-valid", "b-mixed"]
    assert all(len(name.split(".")[1]) == 15 and "T" in name for name in archived)
    assert names(tmp_path / "results") == ["a-valid.results.csv", "b-mixed.results.csv"]
    assert names(tmp_path / "failed") == ["c-broken.xlsx", "c-broken.xlsx.error.txt"]
    assert "is a PDF document" in (tmp_path / "failed" / "c-broken.xlsx.error.txt").read_text()
    valid = read_results_csv(tmp_path / "results" / "a-valid.results.csv")
    assert {row["status"] for row in valid} == {"accepted"}
    lines = outcome.stderr.splitlines()
    assert len(lines) == 4  # one line per file and one for the run
    assert "a-valid.csv: 36 rows: accepted 36" in lines[0]
    assert lines[-1].split(" ", 2)[2].startswith("run: 3 of 3 files processed")
    assert (tmp_path / "logs" / "run.log").read_text().splitlines()[-1].endswith("exit 1")

    again = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    assert (again.exit_code, again.output) == (0, "")
    assert "nothing to do" in (tmp_path / "logs" / "run.log").read_text().splitlines()[-1]
    assert len(sandbox.events()) == 37


def test_same_content_again_is_not_processed_again(tmp_path: Path, sandbox: Sandbox) -> None:
    config = setup(tmp_path)
    drop(tmp_path, "requests.csv")
    assert run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox)).exit_code == 0
    drop(tmp_path, "requests.csv", "copy-of-requests.csv")
    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    assert outcome.exit_code == 0
    assert "same content as run 1" in outcome.stderr and "not processed again" in outcome.stderr
    assert names(tmp_path / "inbox") == []
    assert len(names(tmp_path / "archive")) == 2
    assert len(sandbox.events()) == 36


def test_archive_never_overwrites(tmp_path: Path, sandbox: Sandbox) -> None:
    config = setup(tmp_path)
    archive = tmp_path / "archive"
    archive.mkdir()
    drop(tmp_path, "requests.csv")
    # Every name the archive could pick in the next 20 seconds is taken already.
    taken = {
        f"requests.{time.strftime('%Y%m%dT%H%M%S', time.localtime(time.time() + s))}.csv"
        for s in range(20)
    }
    for name in taken:
        (archive / name).write_text("older file")
    assert run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox)).exit_code == 0
    new = set(names(archive)) - taken
    assert len(new) == 1 and new.pop().endswith("-2.csv")
    assert all((archive / name).read_text() == "older file" for name in taken)


def test_archive_name_has_no_colons_and_numbers_clashes(tmp_path: Path) -> None:
    from datetime import datetime

    from lac_batch.files.inbox import archive_name

    moment = datetime(2026, 11, 26, 3, 15, 0)
    first = archive_name(tmp_path / "orders.xlsx", tmp_path, moment)
    assert first.name == "orders.20261126T031500.xlsx"
    first.write_text("x")
    assert archive_name(tmp_path / "orders.xlsx", tmp_path, moment).name == (
        "orders.20261126T031500-2.xlsx"
    )


def test_files_still_being_written_and_lock_files_are_left(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = setup(tmp_path, "").read_text().replace("settle_seconds = 0", "settle_seconds = 30")
    (tmp_path / "lac-batch.toml").write_text(config)
    fresh = tmp_path / "inbox" / "fresh.csv"
    shutil.copy(SAMPLES / "requests.csv", fresh)  # modified just now
    drop(tmp_path, "requests.csv", "~$requests.xlsx")
    drop(tmp_path, "requests.csv", ".hidden.csv")
    drop(tmp_path, "requests.csv", "download.csv.part")
    outcome = run_cli(
        "run", "--once", "--config", tmp_path / "lac-batch.toml", env=sandbox_env(sandbox)
    )
    assert (outcome.exit_code, outcome.output) == (0, "")
    assert len(names(tmp_path / "inbox")) == 4
    assert sandbox.events() == []


def test_lock_held_exits_quietly_then_4_when_held_too_long(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = setup(tmp_path)
    drop(tmp_path, "requests.csv")
    with RunLock(tmp_path / "state" / "ledger.sqlite3"):
        quiet = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
        assert (quiet.exit_code, quiet.output) == (0, "")
        time.sleep(1.1)
        env = {**sandbox_env(sandbox), "LAC_LOCK_WARN_AFTER": "1s"}
        loud = run_cli("run", "--once", "--config", config, env=env)
    assert loud.exit_code == 4
    assert "another run is in progress (pid" in loud.stderr
    assert sandbox.events() == []
    assert names(tmp_path / "inbox") == ["requests.csv"]


def test_refused_key_exits_3_and_leaves_files_in_the_inbox(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = setup(tmp_path)
    drop(tmp_path, "requests.csv", "a.csv")
    drop(tmp_path, "requests.csv", "b.csv")
    env = sandbox_env(sandbox, "lac_sk_revoked_0000000000")
    outcome = run_cli("run", "--once", "--config", config, env=env)
    assert outcome.exit_code == 3
    assert names(tmp_path / "inbox") == ["a.csv", "b.csv"]
    assert "lac_sk_revoked_0000000000" not in outcome.output
    assert "lac_sk_revoked_0000000000" not in (tmp_path / "logs" / "run.log").read_text()


def test_json_log_lines_have_stable_fields(tmp_path: Path, sandbox: Sandbox) -> None:
    config = setup(tmp_path, 'log_format = "json"\n')
    drop(tmp_path, "requests.csv")
    sandbox.set_faults(FaultConfig(p_close_after=0.1, seed=1))
    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    events = [json.loads(line) for line in outcome.stderr.splitlines()]
    assert [event["event"] for event in events] == ["file", "run"]
    file_event = events[0]
    assert {
        "time",
        "level",
        "event",
        "message",
        "file",
        "rows",
        "counts",
        "results",
        "archived",
        "exit_code",
    } <= set(file_event)
    assert file_event["rows"] == 36
    assert sum(file_event["counts"].values()) == 36
    assert {"files", "left_in_inbox", "seconds", "exit_code"} <= set(events[1])


def test_missing_key_is_exit_2(tmp_path: Path) -> None:
    config = setup(tmp_path)
    outcome = run_cli("run", "--once", "--config", config, env={"LAC_API_KEY": ""})
    assert outcome.exit_code == 2
    assert "no API key" in outcome.stderr


def test_a_file_the_keys_file_cannot_send_goes_to_failed_and_the_next_file_is_sent(
    tmp_path: Path,
) -> None:
    from test_companies import ENV, keys_file, sandbox_keys

    keys = keys_file(tmp_path)
    config = setup(tmp_path, f'keys_file = "{keys.as_posix()}"\n')
    old = time.time() - 60
    # Without a customer_id column no row can pick its key: the file cannot be used at all.
    bad = tmp_path / "inbox" / "a-no-customer-column.csv"
    bad.write_text(csv_text([["connection_key", "request_type"], ["bank", "setup"]]))
    good = tmp_path / "inbox" / "b-good.csv"
    good.write_text(
        csv_text(
            [
                ["connection_key", "request_type", "customer_id"],
                ["bank", "setup", "company-a"],
                ["bank", "setup", "company-b"],
            ]
        )
    )
    os.utime(bad, (old - 10, old - 10))  # the bad file comes first
    os.utime(good, (old, old))

    with running_sandbox(keys=sandbox_keys()) as server:
        env = {**ENV, "LAC_API_KEY": "", "LAC_BASE_URL": server.base_url}
        outcome = run_cli("run", "--once", "--config", config, env=env)
        received = server.events()

    assert outcome.exit_code == 1, outcome.output  # a file not OK, as the README says
    assert names(tmp_path / "inbox") == []
    assert names(tmp_path / "failed") == [
        "a-no-customer-column.csv",
        "a-no-customer-column.csv.error.txt",
    ]
    note = (tmp_path / "failed" / "a-no-customer-column.csv.error.txt").read_text()
    assert "has no customer_id column" in note
    assert [name.split(".")[0] for name in names(tmp_path / "archive")] == ["b-good"]
    rows = read_results_csv(tmp_path / "results" / "b-good.results.csv")
    assert [row["status"] for row in rows] == ["accepted", "accepted"]
    assert sorted(event.company_id for event in received) == ["company-a", "company-b"]


class PanicException(BaseException):
    """Stands in for ``pyo3_runtime.PanicException``, which cannot be imported by name: like it,
    a BaseException that no ``except Exception`` catches."""


PanicException.__module__ = "pyo3_runtime"


def test_a_workbook_that_makes_the_reader_panic_goes_to_failed_and_the_next_file_is_sent(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lac_batch.files.excel_reader as excel_reader

    real_open = excel_reader.CalamineWorkbook.from_path

    class PanickingWorkbook:
        @staticmethod
        def from_path(path: str) -> object:
            if Path(path).name.startswith("a-panics"):
                raise PanicException("called `Option::unwrap()` on a `None` value")
            return real_open(path)

    monkeypatch.setattr(excel_reader, "CalamineWorkbook", PanickingWorkbook)
    config = setup(tmp_path)
    old = time.time() - 60
    for name in ("a-panics.xlsx", "b-good.xlsx"):
        target = drop(tmp_path, "requests.xlsx", name)
        os.utime(target, (old, old))
        old += 1  # the panicking file comes first

    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))

    assert outcome.exit_code == 1, outcome.output
    assert names(tmp_path / "inbox") == []
    assert names(tmp_path / "failed") == ["a-panics.xlsx", "a-panics.xlsx.error.txt"]
    note = (tmp_path / "failed" / "a-panics.xlsx.error.txt").read_text()
    assert "the workbook reader failed inside" in note
    assert "save it again" in note
    assert [name.split(".")[0] for name in names(tmp_path / "archive")] == ["b-good"]
    assert names(tmp_path / "results") == ["b-good.results.xlsx"]
    assert "b-good.xlsx: 36 rows: accepted 36" in outcome.stderr
    assert len(sandbox.events()) == 36


def test_an_unusable_results_folder_is_named_as_the_config_names_it(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = setup(tmp_path, '[folders]\nresults = "out/results"\n')
    (tmp_path / "out").write_text("a file where the results folder's parent should be")
    drop(tmp_path, "requests.csv", "a.csv")
    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    assert outcome.exit_code == 2, outcome.output
    assert names(tmp_path / "inbox") == ["a.csv"]
    assert sandbox.received() == {}
    # run has no --results flag: the message names the setting the user can change.
    assert "--results" not in outcome.output
    assert "folders.results" in outcome.output


def test_run_names_its_results_folder_setting_where_submit_names_a_flag() -> None:
    with naming(inbox_name):
        assert option_name(Option.RESULTS) == "results folder (folders.results in the config)"
        assert option_name(Option.LEDGER) == "--ledger"
