"""What an operator sees while a submit runs: the live line, the start line and its question,
retries, Ctrl-C, the grouped summary; a long `run`'s progress lines, `report --runs` of a live run,
and the sandbox's own lines."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import HEADER, SAMPLES, WriteCsv, run_cli, sandbox_env

from lac_batch.cli.progress import ProgressReporter
from lac_batch.cli.submit_progress import start_text
from lac_batch.jobs.submit import SendPlan
from lac_batch.sandbox import FaultConfig, Sandbox
from lac_batch.sending.credentials import PRODUCTION_BASE_URL
from lac_batch.sending.engine import RetryNotice

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals and signals")
SUBMIT = [sys.executable, "-m", "lac_batch", "submit"]
NOWHERE = "https://0.0.0.0:1/portal"
"""Not loopback by its name, yet a connection to it goes to this machine and is refused."""


def rows(count: int) -> list[list[str]]:
    return [HEADER] + [[f"bank:k{n}", "setup", "", f"row {n}"] for n in range(count)]


class Terminal:
    """``lac-batch ARGS`` in a pseudo-terminal of 120x30; every read bounded by the clock."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lac_batch", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, **env, "COLUMNS": "120", "LINES": "30", "TERM": "xterm"},
            cwd=cwd,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""

    def read(self) -> None:
        """What the terminal got, its colour and cursor codes left out."""
        text = os.read(self.master, 65536).decode("utf-8", "replace")
        self.screen += re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)

    def read_until(self, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.screen):
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {pattern!r} in:\n{self.screen}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    self.read()
                except OSError:  # the child closed the terminal
                    assert re.search(pattern, self.screen), self.screen
        return self.screen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, self.screen
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.read()
                except OSError:
                    break
        code = self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        os.close(self.master)
        return code


@posix_only
def test_a_terminal_gets_one_live_line_with_counts_rate_elapsed_and_eta(
    tmp_path: Path, sandbox: Sandbox, write_csv: WriteCsv
) -> None:
    path = write_csv(rows(40))
    term = Terminal(["submit", str(path), "--rate", "10"], sandbox_env(sandbox), tmp_path)
    screen = term.read_until(r"sending .*\d+/40 .*req/s, elapsed \d+ s, about \d+ s left")
    assert term.finish() == 0
    screen = term.screen
    assert "sending 40 rows to 127.0.0.1:" in screen
    assert "at ≤ 10/s; about 4 s" in screen
    assert "━" in screen  # rich's bar, not the plain lines
    assert "progress:" not in screen
    assert re.search(r"sent .*40/40 accepted 40", screen)


def test_off_a_terminal_plain_and_json_lines_carry_elapsed_and_eta(
    tmp_path: Path, sandbox: Sandbox, write_csv: WriteCsv
) -> None:
    path = write_csv(rows(3))
    outcome = run_cli("submit", path, env=sandbox_env(sandbox))
    assert "sending 3 rows to 127.0.0.1:" in outcome.stderr
    assert re.search(r"progress: 3/3 rows, accepted 3, [\d.]+ req/s, elapsed \d+ s", outcome.stderr)
    outcome = run_cli("submit", path, "--force", "--log-format", "json", env=sandbox_env(sandbox))
    import json

    lines = [json.loads(line) for line in outcome.stderr.splitlines() if line.startswith("{")]
    progress = [line for line in lines if line["event"] == "progress"][-1]
    assert progress["done"] == progress["total"] == 3
    assert "elapsed_s" in progress and progress["eta_s"] == 0.0
    start = next(line for line in lines if line["event"] == "start")
    assert start["requests"] == 3 and start["host"].startswith("127.0.0.1:")


def test_the_start_line_names_production_and_what_is_not_sent() -> None:
    plan = SendPlan(2494, 506, 0, 12, PRODUCTION_BASE_URL, 5.0)
    assert start_text(plan) == (
        "sending 2,494 rows (506 already accepted, 12 invalid) to "
        "api.app.lastaccountingcompany.com (production) at ≤ 5/s; about 8 min"
    )


@posix_only
def test_a_terminal_is_asked_before_sending_to_another_host_and_no_sends_nothing(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    path = write_csv(rows(2))
    env = {"LAC_API_KEY": "lac_sk_live_for_tests", "LAC_BASE_URL": NOWHERE}
    term = Terminal(["submit", str(path), "--max-attempts", "1"], env, tmp_path)
    term.read_until(r"Send 2 rows to 0\.0\.0\.0:1\? \[y/N\]")
    term.type("n\r")
    assert term.finish() == 130
    assert "not delivered" not in term.screen
    assert "2 rows not sent: run the same command again" in term.screen
    results = (tmp_path / "requests.results.csv").read_text(encoding="utf-8-sig")
    assert results.count("not_sent") == 2


@posix_only
def test_yes_skips_the_question_and_off_a_terminal_it_is_never_asked(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    path = write_csv(rows(1))
    env = {"LAC_API_KEY": "lac_sk_live_for_tests", "LAC_BASE_URL": NOWHERE}
    term = Terminal(["submit", str(path), "--max-attempts", "1", "--yes"], env, tmp_path)
    assert term.finish() == 1
    assert "[y/N]" not in term.screen and "1 row failed" in term.screen
    outcome = run_cli("submit", path, "--max-attempts", "1", "--force", env=env)
    assert outcome.exit_code == 1 and "[y/N]" not in outcome.output
    assert "sending 1 row to 0.0.0.0:1 at" in outcome.stderr


def test_throttling_is_told_and_the_summary_counts_retries(
    tmp_path: Path, sandbox: Sandbox, write_csv: WriteCsv
) -> None:
    sandbox.set_faults(FaultConfig(p_429=0.5, retry_after_s=1, seed=3))
    path = write_csv(rows(6))
    outcome = run_cli("submit", path, "--rate", "50", env=sandbox_env(sandbox))
    assert outcome.exit_code == 0, outcome.output
    assert re.search(
        r"server asked to slow down \(429, Retry-After 1 s\): paused; 1 retry so far",
        outcome.stderr,
    )
    retried = int(re.search(r"(\d+) requests? sent again \(", outcome.stdout).group(1))
    assert retried >= 1 and "the server asked to slow down)" in outcome.stdout


def test_retry_notes_are_rate_limited_and_keep_the_count() -> None:
    now = [0.0]
    stream = io.StringIO()
    reporter = ProgressReporter(10, stream=stream, clock=lambda: now[0], live=False)
    for retries in range(1, 31):
        reporter.retrying(RetryNotice(2, 503, 2.0, 2.0, False, retries))
        now[0] += 1.0
    lines = stream.getvalue().splitlines()
    assert lines == [
        "server answered 503, Retry-After 2 s: sending it again in 2 s; 1 retry so far",
        "server answered 503, Retry-After 2 s: sending it again in 2 s; 11 retries so far",
        "server answered 503, Retry-After 2 s: sending it again in 2 s; 21 retries so far",
    ]


@posix_only
def test_first_ctrl_c_says_at_once_what_it_waits_for_and_the_end_says_what_next(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    sandbox.set_faults(FaultConfig(latency_s=3.0))
    path = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    env = {**os.environ, **sandbox_env(sandbox)}
    process = subprocess.Popen(
        [*SUBMIT, str(path), "--rate", "20", "--concurrency", "4"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(sandbox.received()) < 4:
        assert time.monotonic() < deadline, "never sent"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    assert process.stderr is not None
    first = ""
    while "stopping" not in first:
        assert time.monotonic() < deadline
        first = process.stderr.readline()
    # Said at once: the requests in flight (3 s each) have not been answered yet.
    assert process.poll() is None and not sandbox.events()
    assert first.strip() == (
        "stopping: waiting for 4 requests in flight (at most 30 s); Ctrl-C again abandons them "
        "(their outcome becomes unknown)"
    )
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "progress: 4/36 rows (stopped), accepted 4, not_sent 32" in stderr
    assert "36/36" not in stderr
    assert "32 rows not_sent (rows 6\u201337)\n" in stdout
    assert (
        "Interrupted (Ctrl-C or SIGTERM).\n" in stderr and "Interrupted: interrupted" not in stderr
    )
    assert "32 rows not sent: run the same command again; the 4 accepted will be skipped." in stderr


def test_the_summary_says_each_status_once_with_row_ranges(
    tmp_path: Path, sandbox: Sandbox, write_csv: WriteCsv
) -> None:
    sandbox.set_faults(FaultConfig(p_close_after=1.0))
    table = rows(6)
    table[2][1] = ""  # row 3 invalid: no request_type
    path = write_csv(table)
    first = run_cli("submit", path, env=sandbox_env(sandbox))
    assert "5 rows unknown (rows 2, 4\u20137): " in first.stdout
    assert "1 row invalid (row 3): " in first.stdout
    assert first.stdout.count("--resend-unknown") == 1 and "--retry-ambiguous" not in first.output
    assert "1 rows" not in first.output
    second = run_cli("submit", path, env=sandbox_env(sandbox))
    line = next(x for x in second.stdout.splitlines() if "rows unknown" in x)
    assert line.startswith("  5 rows unknown (rows 2, 4\u20137): an earlier run left this request")
    assert "look it up in the LAC portal" not in line and "--resend-unknown" not in line
    assert second.stdout.count("--resend-unknown") == 1


def test_run_logs_a_progress_line_while_it_sends_a_long_file(
    tmp_path: Path, sandbox: Sandbox, write_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lac_batch.jobs.inbox_pass as inbox_pass

    monkeypatch.setattr(inbox_pass, "RUN_PROGRESS_EVERY_S", 0.0)
    # The archive and results folders default to the working folder's: keep them in tmp_path.
    monkeypatch.chdir(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    source = write_csv(rows(5))
    shutil.move(source, inbox / "long.csv")
    old = time.time() - 60
    os.utime(inbox / "long.csv", (old, old))
    env = {**sandbox_env(sandbox), "LAC_INBOX": str(inbox), "LAC_SETTLE_SECONDS": "0"}
    outcome = run_cli("run", "--once", env=env)
    assert outcome.exit_code == 0, outcome.output
    assert re.search(r"INFO long\.csv: 3/5 sent, accepted 3, [\d.]+ req/s, elapsed", outcome.output)


@posix_only
def test_report_runs_shows_a_live_run_in_progress_and_a_killed_one_as_not_finished(
    tmp_path: Path, sandbox: Sandbox, ledger_location: str
) -> None:
    # Still going is told by the run's lock: the ledger file's, or the account's advisory lock
    # in PostgreSQL (held by the run's session; gone when it is killed).
    sandbox.set_faults(FaultConfig(latency_s=0.3))
    path = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    env = {**os.environ, **sandbox_env(sandbox), "LAC_LEDGER": ledger_location}
    process = subprocess.Popen(
        [sys.executable, "-m", "lac_batch", "submit", str(path), "--rate", "10"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        line = ""
        while not re.search(r"in progress, [1-9]\d*/36 sent so far", line):
            assert time.monotonic() < deadline, line
            time.sleep(0.2)
            line = run_cli("report", "--runs").stdout
        assert f"(pid {process.pid}, to {urlsplit(sandbox.base_url).netloc})" in line
        process.kill()
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    # A PostgreSQL server lets the lock go when it notices the session's connection closed.
    deadline = time.monotonic() + 15
    after = run_cli("report", "--runs").stdout
    while "in progress" in after and time.monotonic() < deadline:
        time.sleep(0.2)
        after = run_cli("report", "--runs").stdout
    assert "did not finish" in after and "in progress" not in after


def test_the_sandbox_prints_the_submit_command_and_a_line_per_request() -> None:
    from lac_batch.cli import sandbox as command

    lines = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(lines):
        command._announce("http://127.0.0.1:8765/portal", FaultConfig(), None, True)
        command._answer_line(202)
        command._answer_line(None)
    printed = lines.getvalue().splitlines()
    assert (
        "  LAC_API_KEY=lac_sk_sandbox_write lac-batch submit FILE --base-url "
        "http://127.0.0.1:8765/portal" in printed
    )
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d POST /portal/service-connections/requests → 202 Accepted", printed[-2]
    )
    assert printed[-1].endswith("→ connection dropped without an answer")
