"""lac_batch.submit_file: the whole of ``submit`` as one library call, its async form, its stop
handle, and the example of it in docs/python.md, run as written."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import HEADER, REPO, SAMPLES, read_results_csv

import lac_batch
from lac_batch.sandbox import SANDBOX_WRITE_KEY, Sandbox
from lac_batch.sending.engine import Job

PYTHON_DOCS = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
WAIT_S = 30.0
"""The longest a test waits for another thread (never reached when all is well)."""


def _options(sandbox: Sandbox, **settings: float) -> lac_batch.SubmitOptions:
    return lac_batch.SubmitOptions(
        base_url=sandbox.base_url,
        api_key=lac_batch.ApiKey(SANDBOX_WRITE_KEY),
        settings=lac_batch.Settings(**settings).submit_settings(),  # type: ignore[arg-type]
    )


def _requests_csv(folder: Path, rows: int) -> Path:
    path = folder / "requests.csv"
    lines = [",".join(HEADER)] + [f"bank:{n},setup,,row {n}" for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_readme_python_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    section = PYTHON_DOCS.split("\n## Submit\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None, "docs/python.md's Submit section has no example"
    shutil.copy(SAMPLES / "requests.xlsx", tmp_path / "requests.xlsx")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(code.group(1), "docs/python.md", "exec"), namespace)
    outcome = namespace["outcome"]
    assert isinstance(outcome, lac_batch.SubmitOutcome)
    assert outcome.exit_code is lac_batch.ExitCode.OK
    assert outcome.counts == {lac_batch.Status.ACCEPTED: len(outcome.results)} and outcome.results
    assert outcome.results_path == Path("requests.results.xlsx")
    assert (tmp_path / "requests.results.xlsx").is_file()
    assert (tmp_path / "sandbox-ledger.sqlite3").is_file()
    printed = capsys.readouterr().out
    assert f"row {outcome.results[-1].row_number}: accepted" in printed
    assert "results file: requests.results.xlsx" in printed


def test_import_lac_batch_loads_neither_pandas_nor_httpx_until_submit_file_is_used() -> None:
    script = (
        "import sys, lac_batch\n"
        "loaded = [m for m in ('pandas', 'pandera', 'httpx') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "assert callable(lac_batch.submit_file) and callable(lac_batch.submit_file_async)\n"
        "assert lac_batch.SubmitOutcome.__name__ == 'SubmitOutcome'\n"
        "assert {'submit_file', 'SubmitOptions', 'SubmitOutcome'} <= set(lac_batch.__all__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_submit_file_async_sends_on_a_running_loop_that_keeps_serving(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    source = _requests_csv(tmp_path, 6)
    heard: list[int] = []

    class Heard(lac_batch.SubmitProgress):
        def row_finished(self, job: Job, result: lac_batch.RowResult) -> None:
            heard.append(threading.get_ident())

    async def caller() -> tuple[lac_batch.SubmitOutcome, int, int]:
        ticks = 0
        job = asyncio.ensure_future(
            lac_batch.submit_file_async(
                source,
                _options(sandbox, rate=20),
                ledger=tmp_path / "ledger.sqlite3",
                progress=Heard(),
            )
        )
        while not job.done():  # the loop serves others while the file is sent
            ticks += 1
            await asyncio.sleep(0.01)
        return await job, ticks, threading.get_ident()

    outcome, ticks, loop_thread = asyncio.run(asyncio.wait_for(caller(), WAIT_S))
    assert outcome.exit_code is lac_batch.ExitCode.OK
    assert outcome.counts == {lac_batch.Status.ACCEPTED: 6}
    assert len(sandbox.events()) == 6
    assert read_results_csv(tmp_path / "requests.results.csv")[0]["status"] == "accepted"
    assert ticks > 1
    assert set(heard) == {loop_thread}  # progress is told on the caller's loop


def test_submit_file_from_inside_a_running_loop_says_to_await_the_async_form(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    source = _requests_csv(tmp_path, 1)

    async def caller() -> None:
        lac_batch.submit_file(source, _options(sandbox), ledger=tmp_path / "ledger.sqlite3")

    with pytest.raises(lac_batch.UsageError, match="submit_file_async"):
        asyncio.run(caller())
    assert sandbox.events() == [] and not (tmp_path / "requests.results.csv").exists()


def test_a_stop_handle_set_from_another_thread_leaves_the_rest_not_sent_with_exit_130(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    rows = 10
    source = _requests_csv(tmp_path, rows)
    stop = lac_batch.StopHandle()
    first_done = threading.Event()

    class FirstRow(lac_batch.SubmitProgress):
        def row_finished(self, job: Job, result: lac_batch.RowResult) -> None:
            first_done.set()

    def stopper() -> None:
        if first_done.wait(WAIT_S):
            stop.stop()

    thread = threading.Thread(target=stopper, daemon=True)
    thread.start()
    outcome = lac_batch.submit_file(
        source,
        _options(sandbox, rate=2, concurrency=1),
        ledger=tmp_path / "ledger.sqlite3",
        progress=FirstRow(),
        stop=stop,
    )
    thread.join(WAIT_S)
    accepted = outcome.counts[lac_batch.Status.ACCEPTED]
    not_sent = outcome.counts[lac_batch.Status.NOT_SENT]
    assert accepted >= 1 and not_sent >= 1 and accepted + not_sent == rows, outcome.counts
    assert outcome.exit_code is lac_batch.ExitCode.INTERRUPTED
    assert len(sandbox.events()) == accepted
    written = read_results_csv(tmp_path / "requests.results.csv")
    assert sum(row["status"] == "not_sent" for row in written) == not_sent


def test_a_stop_before_sending_raises_interrupted_and_sends_nothing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    stop = lac_batch.StopHandle()
    stop.stop()
    with pytest.raises(lac_batch.Interrupted):
        lac_batch.submit_file(
            _requests_csv(tmp_path, 2),
            _options(sandbox),
            ledger=tmp_path / "ledger.sqlite3",
            stop=stop,
        )
    assert sandbox.events() == [] and not (tmp_path / "requests.results.csv").exists()


def test_the_outcome_counts_records_a_crashed_run_left_sending(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    options = _options(sandbox, rate=50)
    lac_batch.submit_file(_requests_csv(tmp_path, 3), options, ledger=ledger)
    with sqlite3.connect(ledger) as db:  # as a run killed while sending leaves them
        db.execute("UPDATE requests SET state = 'sending'")
    db.close()
    again = lac_batch.submit_file(tmp_path / "requests.csv", options, ledger=ledger)
    assert again.recovered == 3
    assert again.counts == {lac_batch.Status.UNKNOWN: 3}  # never resent silently
    assert len(sandbox.events()) == 3


def test_cancelling_submit_file_async_stops_it_and_still_writes_what_happened(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    rows = 10
    source = _requests_csv(tmp_path, rows)

    async def caller() -> None:
        first_done = asyncio.Event()

        class FirstRow(lac_batch.SubmitProgress):
            def row_finished(self, job: Job, result: lac_batch.RowResult) -> None:
                first_done.set()

        job = asyncio.ensure_future(
            lac_batch.submit_file_async(
                source,
                _options(sandbox, rate=2, concurrency=1),
                ledger=tmp_path / "ledger.sqlite3",
                progress=FirstRow(),
            )
        )
        await first_done.wait()
        job.cancel()
        await job

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(asyncio.wait_for(caller(), WAIT_S))
    written = read_results_csv(tmp_path / "requests.results.csv")
    statuses = [row["status"] for row in written]
    assert len(statuses) == rows and "not_sent" in statuses
    assert statuses.count("accepted") == len(sandbox.events()) >= 1
