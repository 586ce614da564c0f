"""Reading options that do not fit the file (``--sheet`` for a CSV, a two-character delimiter)
are the user's command at fault, not the file: a UsageError (exit 2), which ends an inbox pass
and leaves the file in the inbox, never a FileProblem that moves a good file to failed/."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import SAMPLES, run_cli

from lac_batch.files.inbox import Folders
from lac_batch.files.reader import read_table
from lac_batch.jobs.inbox_pass import run_pass
from lac_batch.jobs.run_log import setup_run_log
from lac_batch.jobs.submit import SubmitOptions
from lac_batch.ledger.store import Ledger
from lac_batch.model.errors import FileProblem, UsageError
from lac_batch.model.stopping import StopHandle
from lac_batch.sending.credentials import ApiKey

# (sample, reading options, CLI flags, the message after "<path>: ")
MISTAKES = [
    (
        "requests.csv",
        {"delimiter": ";;"},
        ["--delimiter", ";;"],
        "--delimiter must be one character, not ';;'.",
    ),
    (
        "requests.csv",
        {"sheet": "Sheet1"},
        ["--sheet", "Sheet1"],
        "is a text file; --sheet applies to workbooks only.",
    ),
    (
        "requests.xlsx",
        {"delimiter": ";"},
        ["--delimiter", ";"],
        "is a workbook; --encoding and --delimiter apply to CSV files only.",
    ),
]


@pytest.mark.parametrize(("sample", "reading", "flags", "message"), MISTAKES)
def test_a_reading_option_that_does_not_fit_is_a_usage_error_of_exit_2(
    tmp_path: Path, sample: str, reading: dict[str, str], flags: list[str], message: str
) -> None:
    path = tmp_path / sample
    shutil.copy(SAMPLES / sample, path)
    with pytest.raises(UsageError) as caught:
        read_table(path, **reading)
    assert not isinstance(caught.value, FileProblem)
    outcome = run_cli("validate", path, *flags)
    assert outcome.exit_code == 2, outcome.output
    assert outcome.stderr.strip() == f"Error: {path}: {message}"


@pytest.mark.parametrize(("sample", "reading"), [(m[0], m[1]) for m in MISTAKES])
def test_an_inbox_pass_with_a_reading_option_that_does_not_fit_leaves_the_file_in_the_inbox(
    tmp_path: Path, sample: str, reading: dict[str, str]
) -> None:
    # `lac-batch run` has no reading options (it reads every file as detected); the inbox pass
    # of the library takes them, for every file of the pass.
    folders = Folders(
        inbox=tmp_path / "inbox",
        archive=tmp_path / "archive",
        results=tmp_path / "results",
        failed=tmp_path / "failed",
    )
    folders.inbox.mkdir()
    source = folders.inbox / sample
    shutil.copy(SAMPLES / sample, source)
    old = time.time() - 60
    os.utime(source, (old, old))
    ledger_path = tmp_path / "ledger.sqlite3"
    Ledger.open(ledger_path).close()
    options = SubmitOptions(base_url="http://127.0.0.1:9", api_key=ApiKey("unused-key-123"))
    with pytest.raises(UsageError):
        run_pass(
            folders=folders,
            options=options,
            ledger_path=ledger_path,
            lock_warn_after_s=60.0,
            settle_seconds=0.0,
            log=setup_run_log("text", console=open(os.devnull, "w")),  # noqa: SIM115
            stop=StopHandle(),
            reading=reading,
        )
    assert [path.name for path in folders.inbox.iterdir()] == [sample]
    assert list(folders.failed.iterdir()) == []
