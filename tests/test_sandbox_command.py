"""``lac-batch sandbox``: prints its URL and keys, serves, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sandbox_fixtures import ENDPOINT, VALID_BODY, WRITE

from lac_batch.cli.sandbox import sandbox_command
from lac_batch.sandbox import SANDBOX_READ_KEY, SANDBOX_WRITE_KEY, read_event_log


def run_command(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(sandbox_command, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--p-503", "1.5"], "--p-503"),
        (["--p-503", "0.7", "--p-500", "0.7"], "add up to at most 1"),
        (["--latency", "-1"], "--latency"),
        (["--rate-limit", "0"], "--rate-limit"),
        (["--port", "70000"], "--port"),
    ],
)
def test_impossible_settings_are_a_usage_error(args: list[str], message: str) -> None:
    exit_code, output = run_command(*args)

    assert exit_code == 2
    assert message in output


def test_a_port_in_use_is_explained() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        exit_code, output = run_command("--port", str(port))

    assert exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "--port 0" in output


def test_an_unwritable_event_log_is_explained(tmp_path: Path) -> None:
    log_path = tmp_path / "missing-folder" / "events.jsonl"

    exit_code, output = run_command("--port", "0", "--log", str(log_path))

    assert exit_code == 2
    assert "cannot write the event log" in output


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT as Ctrl-C does on POSIX")
def test_serves_until_ctrl_c_then_exits_0_without_a_traceback(tmp_path: Path) -> None:
    log_path = tmp_path / "events.jsonl"
    command = [sys.executable, "-m", "lac_batch.cli.sandbox", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--log", str(log_path), "--latency", "0.01", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(10)]
        base_url = banner[0].split()[-1]
        with httpx.Client(base_url=base_url, trust_env=False) as client:
            response = client.post(ENDPOINT, json=VALID_BODY, headers=WRITE)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()

    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/portal")
    assert response.status_code == 202
    assert process.returncode == 0
    assert "Traceback" not in stderr + stdout
    shown = "".join(banner)
    assert SANDBOX_WRITE_KEY in shown and SANDBOX_READ_KEY in shown
    assert "latency_s=0.01, seed=3" in shown
    assert "Idempotency-Key: honoured" in shown
    assert banner[-1] == "Press Ctrl-C to stop.\n"
    assert banner[-2] == (
        f"  LAC_API_KEY={SANDBOX_WRITE_KEY} lac-batch submit FILE --base-url {base_url}\n"
    )
    assert "POST /portal/service-connections/requests → 202 Accepted" in stdout
    assert [event.event_id for event in read_event_log(log_path)] == [response.json()["event_id"]]
