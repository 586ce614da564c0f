"""`lac-batch validate` end to end: exit codes, summary, results file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import SAMPLES, read_results_csv, run_cli

from lac_batch.files.reader import read_table


def copy_sample(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copy(SAMPLES / name, tmp_path / name))


def test_bundled_samples_are_all_valid(tmp_path: Path) -> None:
    for name in ("requests.csv", "requests.xlsx"):
        outcome = run_cli("validate", copy_sample(tmp_path, name))
        assert outcome.exit_code == 0, outcome.output
        assert "36 rows: valid 36" in outcome.stdout


def test_sample_with_errors_names_every_broken_row(tmp_path: Path) -> None:
    path = copy_sample(tmp_path, "requests-with-errors.csv")
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 1
    results = read_results_csv(tmp_path / "requests-with-errors.results.csv")
    statuses = {row["row"]: (row["status"], row["error"]) for row in results}
    assert statuses["2"] == ("valid", "")
    for broken in ("3", "4", "5", "6", "7"):
        status, error = statuses[broken]
        assert status == "invalid" and error, broken
    assert "connection_key: is empty" in statuses["3"][1]
    assert "metadata.monthly_transactions:int: '12,5' is not a whole number" in statuses["4"][1]
    assert "duplicate of row 2" in statuses["6"][1]
    assert "metadata.estimated_fee_eur:float: 'nan' is not a number" in statuses["7"][1]


def test_finnish_excel_cp1252_semicolon_csv_keeps_ids(tmp_path: Path) -> None:
    path = tmp_path / "asiakkaat.csv"
    path.write_bytes(
        "connection_key;request_type;customer_id;metadata.yritys;metadata.summa:float\r\n"
        "pankki;setup;0123456-7;Öljy-Huolto Oy;1 234,50\r\n"
        "stripe;change;007;Kahvila Äijä;12\r\n".encode("cp1252")
    )
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 0, outcome.output
    results = (tmp_path / "asiakkaat.results.csv").read_text(encoding="utf-8-sig").splitlines()
    assert results[1] == "2;valid;;;;;;pankki;setup;0123456-7;Öljy-Huolto Oy;1 234,50"
    assert results[2] == "3;valid;;;;;;stripe;change;007;Kahvila Äijä;12"


def test_summary_shows_counts_first_errors_and_results_path(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type\n,b\na,b\n")
    outcome = run_cli("validate", path)
    assert outcome.stdout.splitlines() == [
        f"{path}: 2 rows: valid 1, invalid 1",
        "  row 2, connection_key: is empty; every request needs a value here",
        f"Results: {tmp_path / 'in.results.csv'}",
    ]


def test_unknown_columns_warn_but_validate(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("connection_key,request_type,colour\na,b,red\n")
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 0
    assert "Warning:" in outcome.stderr and "'colour'" in outcome.stderr


def test_results_option_chooses_format(tmp_path: Path) -> None:
    path = copy_sample(tmp_path, "requests.csv")
    outcome = run_cli("validate", path, "--results", tmp_path / "out.xlsx")
    assert outcome.exit_code == 0
    assert read_table(tmp_path / "out.xlsx").rows == read_table(path).rows


def test_delimiter_names_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "in.tsv"
    path.write_text("connection_key\trequest_type\na\tb\n")
    assert run_cli("validate", path, "--delimiter", "tab").exit_code == 0


def _installed(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lac_batch", *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_installed_command_flushes_its_output_and_keeps_its_exit_code(tmp_path: Path) -> None:
    # The console script ends with os._exit (skipping the slow freeing of a big job's objects):
    # output written to a pipe must still arrive, and the exit code must be the command's.
    shutil.copy(SAMPLES / "requests-with-errors.csv", tmp_path / "orders.csv")
    done = _installed("validate", str(tmp_path / "orders.csv"))
    assert done.returncode == 1
    assert "invalid" in done.stdout and "Results:" in done.stdout
    assert (tmp_path / "orders.results.csv").exists()
    missing = _installed("validate", str(tmp_path / "nothing.csv"))
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
