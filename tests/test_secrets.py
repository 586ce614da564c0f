"""The API key never appears in output, logs, results files or event logs."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from conftest import SAMPLES, run_cli

from lac_batch.sandbox import FaultConfig, SandboxKey, running_sandbox

SECRET = "lac_sk_live_Zq8VhT2mK9pW4xR7nB3cY6dF"


def test_key_appears_nowhere(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    keys = [SandboxKey(SECRET, "write", "acme-oy")]
    faults = FaultConfig(
        p_503=0.1, p_500=0.1, p_close_after=0.1, p_429=0.1, retry_after_s=0, seed=3
    )
    with running_sandbox(faults=faults, keys=keys, log_path=log) as server:
        env = {"LAC_API_KEY": SECRET, "LAC_BASE_URL": server.base_url}
        path = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
        outputs = [
            run_cli("submit", path, "--rate", "300", "--log-format", "json", env=env).output,
            run_cli(
                "submit", path, "--rate", "300", "--results", tmp_path / "r.xlsx", env=env
            ).output,
        ]
        server.set_faults(FaultConfig())
        server.revoke_key(SECRET)
        refused = run_cli(
            "submit", path, "--rate", "300", "--force", "--results", tmp_path / "r2.csv", env=env
        )
        assert refused.exit_code == 3
        outputs.append(refused.output)
    ledger = Path(os.environ["LAC_LEDGER"])
    files = [tmp_path / "requests.results.csv", tmp_path / "r.xlsx", tmp_path / "r2.csv", log]
    files += [ledger, *ledger.parent.glob("ledger.sqlite3*")]
    assert all(file.exists() for file in files)
    for text in outputs:
        assert SECRET not in text
    for file in files:
        assert SECRET.encode() not in readable_bytes(file), file


def readable_bytes(path: Path) -> bytes:
    """The file's bytes, or for a zip (an .xlsx) the bytes of every member unpacked."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return b"".join(archive.read(name) for name in archive.namelist())
    return path.read_bytes()
