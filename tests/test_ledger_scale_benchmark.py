"""benchmarks/ledger_scale.py, run small: it builds a ledger of the size asked, plans the file
against it (half skipped, half sent), checks free disk space first, and says plainly when a
PostgreSQL ledger URL cannot be measured."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import load_script

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "ledger_scale.py"


ledger_scale = load_script(BENCHMARK)


def test_it_builds_the_ledger_and_plans_the_file_against_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = ledger_scale.main(["--records", "3000", "--rows", "400", "--workdir", str(tmp_path)])

    out = capsys.readouterr().out
    assert code == 0
    assert "SQLite           3,000 records: built in" in out
    assert "(200 to send, 200 skipped)" in out
    assert "WRONG" not in out
    assert list(tmp_path.iterdir()) == []  # the ledgers are removed afterwards


def test_it_checks_free_disk_space_before_building(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def almost_full(path: Any) -> Any:
        return shutil._ntuple_diskusage(10 << 30, 10 << 30, 1 << 30)  # type: ignore[attr-defined]

    monkeypatch.setattr(shutil, "disk_usage", almost_full)

    code = ledger_scale.main(["--records", "1000000", "--rows", "10", "--workdir", str(tmp_path)])

    assert code == 2
    assert "1,000,000 records: not measured: 1,000,000 records need about" in (
        capsys.readouterr().out
    )


def test_a_postgresql_url_is_reported_when_lac_batch_cannot_open_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = ledger_scale.main(
        [
            "--records",
            "1000",
            "--rows",
            "10",
            "--no-sqlite",
            "--workdir",
            str(tmp_path),
            "--postgres",
            "postgresql://lac@127.0.0.1:9/lac",
        ]
    )

    assert code == 2
    assert "PostgreSQL       1,000 records: not measured:" in capsys.readouterr().out
