"""What the page tells while a run works (the slow-down line, the stopping line, the unknown
rows' advice in the page's own words) and before one (the counts say when sending is blocked).

The page runs in this process (Starlette's test client: login, cookie, CSRF token, the routes
the browser uses) and sends to a real sandbox on 127.0.0.1 with faults.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lac_batch.jobs.submit import SubmitOptions
from lac_batch.model.wording import Option, naming, option_name, python_name
from lac_batch.sandbox import SANDBOX_WRITE_KEY, FaultConfig, Sandbox, running_sandbox
from lac_batch.sending.credentials import ApiKey
from lac_batch.sending.engine import SubmitSettings
from lac_batch.web.app import PageSettings, create_app
from lac_batch.web.security import Gate
from lac_batch.web.wording import page_name

pytestmark = pytest.mark.timeout(120)

PORT = 18767
BASE = f"http://127.0.0.1:{PORT}"
WAIT_S = 30.0
ROWS = b"connection_key,request_type,note\nbank:b0,setup,zero\nbank:b1,setup,one\n"


@dataclass
class PageClient:
    client: TestClient
    headers: dict[str, str]

    def post(self, path: str, **kwargs: object) -> str:
        answer = self.client.post(path, headers=self.headers, **kwargs)
        assert answer.status_code == 200, answer.text
        return str(answer.text)

    def run_panel(self) -> str:
        return str(self.client.get("/run").text)

    def until(self, seen: Callable[[str], bool]) -> str:
        """The run panel once ``seen`` holds for it (bounded by the clock)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            html = self.run_panel()
            if seen(html):
                return html
            time.sleep(0.05)
        raise AssertionError(f"the run panel never showed it:\n{self.run_panel()}")

    def send(self, rows: bytes = ROWS) -> None:
        self.post("/open", files={"file": ("requests.csv", io.BytesIO(rows))})
        self.post("/send")


def _page(sandbox: Sandbox, tmp_path: Path, **settings: object) -> Iterator[PageClient]:
    chosen = {
        "rate": 50.0,
        "concurrency": 4,
        "timeout": 10.0,
        "max_attempts": 1,
        "max_wait": 0.0,
        "retry_ambiguous": False,
        **settings,
    }
    options = SubmitOptions(
        base_url=sandbox.base_url,
        api_key=ApiKey(SANDBOX_WRITE_KEY),
        settings=SubmitSettings(**chosen),
    )
    page_settings = PageSettings(
        options, "the sandbox", tmp_path / "ledger.sqlite3", tmp_path / "sessions"
    )
    gate = Gate(PORT, lambda _: {})
    with TestClient(create_app(page_settings, gate), base_url=BASE) as client:
        client.get(f"/login?token={gate.token}")
        found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/").text)
        assert found is not None
        yield PageClient(client, {"origin": BASE, "x-csrf-token": found.group(1)})


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox() as server:
        yield server


def _notice(html: str, element: str) -> str:
    found = re.search(rf'<p id="{element}"[^>]*>([^<]*)</p>', html)
    return found.group(1) if found else ""


def test_a_429_shows_the_slow_down_line_until_the_run_ends(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.set_faults(FaultConfig(p_429=1.0, retry_after_s=1))
    for page in _page(sandbox, tmp_path, max_attempts=3, max_wait=5.0):
        page.send()
        html = page.until(lambda html: 'id="retry-notice"' in html)
        said = _notice(html, "retry-notice")
        assert said.startswith("The server asked to slow down (429, Retry-After 1 s)"), said
        assert re.search(r"\d+ retr(y|ies) so far", said), said
        sandbox.set_faults(FaultConfig())  # the server recovers: the rows go through
        html = page.until(lambda html: 'id="run-finished"' in html)
        assert "accepted 2" in html
        assert "so far" in _notice(html, "retry-notice")  # how many retries it took stays


def test_stopping_says_how_many_requests_it_waits_for_then_they_finish(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.set_faults(FaultConfig(latency_s=2.0))
    for page in _page(sandbox, tmp_path):
        page.send()
        deadline = time.monotonic() + WAIT_S
        while len(sandbox.arrivals()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(sandbox.arrivals()) == 2, "the two requests never reached the sandbox"
        stopping = page.post("/run/stop")
        html = (
            stopping
            if 'id="stop-notice"' in stopping
            else page.until(lambda html: 'id="stop-notice"' in html)
        )
        said = _notice(html, "stop-notice")
        assert said.startswith("stopping: waiting for 2 requests in flight (at most"), said
        assert "Abandon in flight" in said
        html = page.until(lambda html: 'id="run-finished"' in html)
        assert "accepted 2" in html  # what was in flight finished
        assert 'id="stop-notice"' not in html


def test_unknown_rows_name_the_pages_resend_button_not_a_library_option(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.set_faults(FaultConfig(p_close_after=1.0))
    for page in _page(sandbox, tmp_path):
        page.send()
        page.until(lambda html: 'id="run-finished"' in html)
        results = page.client.get("/run/results").text
        assert "unknown 2" in results
        assert "“Not processed: resend with the same key” under Unknowns to check" in results
        assert "resend_unknown" not in results and "the setting" not in results


@pytest.mark.parametrize("option", list(Option))
def test_every_option_a_message_may_name_has_the_pages_words(option: Option) -> None:
    said = page_name(option, "requests.csv")
    assert said and "{" not in said and "=True" not in said
    assert said != python_name(option, "requests.csv")
    with naming(page_name):
        assert option_name(option, "requests.csv") == said


def test_the_counts_say_sending_is_blocked_by_a_near_miss_until_it_is_mapped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    rows = b"connection_key,request_type,custmer_id\nbank:b0,setup,C1\n"
    for page in _page(sandbox, tmp_path):
        opened = page.post("/open", files={"file": ("requests.csv", io.BytesIO(rows))})
        assert "1 valid" in opened  # the row itself is fine ...
        blocked = re.search(r'<span id="send-blocked"[^>]*>(.*?)</span>', opened, re.S)
        assert blocked is not None  # ... but it cannot be sent as read
        said = blocked.group(1)
        assert "Sending is blocked" in said and "did you mean customer_id?" in said
        assert 'href="#columns"' in said and "Columns panel" in said
        mapped = page.post("/columns", data={"position": "2", "target": "customer_id"})
        assert "1 valid" in mapped and 'id="send-blocked"' not in mapped
