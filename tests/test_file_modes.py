"""File modes: the ledger and its companions are private (or the group's); results follow umask."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLES, run_cli, sandbox_env

from lac_batch.files.modes import LEDGER_COMPANION_SUFFIXES, tighten_ledger_files
from lac_batch.ledger.lock import RunLock
from lac_batch.ledger.store import Ledger
from lac_batch.sandbox import Sandbox

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX permissions")


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_while_open(ledger_path: Path) -> dict[str, int]:
    """The modes of the ledger and its -wal, -shm, lock and lock note while a run holds them."""
    with RunLock(ledger_path):
        ledger = Ledger.open(ledger_path)
        try:
            ledger.recover_interrupted()  # a write: the -wal and -shm files exist now
            names = ["", "-wal", "-shm", ".lock", ".lock.json"]
            return {name or "ledger": mode_of(Path(f"{ledger_path}{name}")) for name in names}
        finally:
            ledger.close()


def test_ledger_and_its_companions_are_0600_under_umask_022(tmp_path: Path) -> None:
    modes = modes_while_open(tmp_path / "ledger.sqlite3")
    assert modes == dict.fromkeys(["ledger", "-wal", "-shm", ".lock", ".lock.json"], 0o600)


def test_ledger_in_a_setgid_folder_is_0660_for_the_group(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2770)
    modes = modes_while_open(shared / "ledger.sqlite3")
    assert modes == dict.fromkeys(["ledger", "-wal", "-shm", ".lock", ".lock.json"], 0o660)


def test_an_existing_ledger_readable_by_others_is_tightened_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger.open(path).close()
    path.chmod(0o644)
    note = Path(f"{path}.lock.json")
    note.write_text("{}", encoding="utf-8")
    note.chmod(0o666)
    Ledger.open(path).close()
    assert (mode_of(path), mode_of(note)) == (0o600, 0o600)


def test_a_ledger_file_of_another_user_is_left_as_it_is(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"")
    path.chmod(0o644)
    os.chown(path, 12345, 12345)
    tighten_ledger_files(path)
    assert mode_of(path) == 0o644


def test_submit_results_follow_the_umask_and_the_ledger_does_not(
    tmp_path: Path, sandbox: Sandbox, private_ledger: Path
) -> None:
    source = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    outcome = run_cli("submit", source, "--rate", "300", env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    assert mode_of(tmp_path / "requests.results.csv") == 0o644
    assert mode_of(private_ledger) == 0o600
    leftovers = [Path(f"{private_ledger}{suffix}") for suffix in LEDGER_COMPANION_SUFFIXES]
    assert all(mode_of(path) == 0o600 for path in leftovers if path.exists())


def test_run_results_and_log_file_follow_the_umask(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAC_LEDGER")
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        'settle_seconds = 0\nrate = 300\nledger = "state/ledger.sqlite3"\n'
        'log_file = "logs/run.log"\n',
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()  # a named ledger's folder must exist
    target = Path(shutil.copy(SAMPLES / "requests.xlsx", tmp_path / "inbox" / "orders.xlsx"))
    os.utime(target, (1, 1))
    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    assert mode_of(tmp_path / "results" / "orders.results.xlsx") == 0o644
    assert mode_of(tmp_path / "logs" / "run.log") == 0o644
    assert mode_of(tmp_path / "state" / "ledger.sqlite3") == 0o600


@pytest.mark.parametrize("name", ["requests.xlsx", "requests.csv"])
@pytest.mark.parametrize("force", [False, True])
def test_templates_follow_the_umask_whether_new_or_replaced(
    tmp_path: Path, name: str, force: bool
) -> None:
    target = tmp_path / name
    if force:
        target.write_bytes(b"old")
        target.chmod(0o600)
    outcome = run_cli("template", target, *(["--force"] if force else []))
    assert outcome.exit_code == 0, outcome.output
    assert mode_of(target) == 0o644
