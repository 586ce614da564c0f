"""The web page (``lac-batch ui``) end to end, in a real headless Chromium driven by Selenium.

The server runs as ``lac-batch ui --sandbox`` in a subprocess (it needs its own main thread and
signals); the browser is Debian's chromium with its background traffic turned off, so nothing
leaves the machine. Screenshots go to ``test-output/`` (not committed).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
from conftest import REPO, SAMPLES
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from lac_batch.sandbox import SANDBOX_WRITE_KEY

SHOTS = REPO / "test-output" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_S = 30

pytestmark = pytest.mark.timeout(180)


class Page:
    """A running ``lac-batch ui`` and the browser logged in to it."""

    def __init__(self, base: str, browser: webdriver.Chrome, downloads: Path) -> None:
        self.base = base
        self.browser = browser
        self.downloads = downloads

    def wait(self, until: Callable[[webdriver.Chrome], object], seconds: float = WAIT_S) -> None:
        WebDriverWait(
            self.browser, seconds, ignored_exceptions=[StaleElementReferenceException]
        ).until(until)

    def find(self, css: str) -> WebElement:
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def finds(self, css: str) -> list[WebElement]:
        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        """Click, again if the element was swapped out meanwhile (progress updates swap it)."""

        def clicked(_: object) -> bool:
            self.find(css).click()
            return True

        self.wait(clicked)

    def text(self, css: str) -> str:
        return self.find(css).text

    def shot(self, name: str, showing: str = "") -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        if showing:
            self.browser.execute_script("arguments[0].scrollIntoView()", self.find(showing))
        path = SHOTS / f"{name}.png"
        self.browser.save_screenshot(str(path))
        return path

    def open_file(self, path: Path) -> None:
        self.find("#file-input").send_keys(str(path))
        self.wait(lambda _: self.finds("#counts"))

    def cell(self, row_number: int, header: str) -> WebElement:
        return self.find(f'#row-{row_number} input[aria-label="row {row_number}, {header}"]')

    def type_into(self, row_number: int, header: str, text: str) -> None:
        field = self.cell(row_number, header)
        # Not clear(): it fires a change of its own, which sends the cell empty.
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(text)
        field.send_keys("\t")  # leaving the cell sends it
        self.wait(staleness_of(field))  # the grid came back, revalidated

    def responses(self) -> list[tuple[str, str]]:
        """(URL, body) of every response the browser received so far, event streams too."""
        seen: list[tuple[str, str]] = []
        for entry in self.browser.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.eventSourceMessageReceived":
                seen.append(("event", params.get("data", "")))
            elif message["method"] == "Network.responseReceived":
                url = params["response"]["url"]
                headers = json.dumps(params["response"].get("headers", {}))
                try:
                    got = self.browser.execute_cdp_cmd(
                        "Network.getResponseBody", {"requestId": params["requestId"]}
                    )
                except WebDriverException:
                    body = ""  # a stream still open, or a download: its events are above
                else:
                    body = got["body"]
                    if got.get("base64Encoded"):
                        body = base64.b64decode(body).decode("latin-1")
                seen.append((url, headers + body))
        return seen


def _browser(downloads: Path, profile: Path) -> webdriver.Chrome:
    if not Path(CHROMIUM).exists() or not Path(DRIVER).exists():
        pytest.fail(
            "The page's tests need Debian's chromium and chromium-driver: `make test` installs "
            "them (apt-get install -y chromium chromium-driver, as root)."
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--metrics-recording-only",
        "--window-size=1500,1100",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    return webdriver.Chrome(options=options, service=Service(DRIVER))


@contextlib.contextmanager
def serving_page(arguments: list[str], env: dict[str, str], folder: Path) -> Iterator[Page]:
    """``lac-batch ui ARGUMENTS --no-browser`` in ``folder``, and a browser logged in to it
    through the printed link (whose token must not stay in the address); both stopped after."""
    server = subprocess.Popen(
        [sys.executable, "-m", "lac_batch", "ui", *arguments, "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=folder,
    )
    browser = None
    try:
        assert server.stdout is not None
        login = ""
        deadline = time.monotonic() + WAIT_S
        while not login and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            found = re.search(r"http://127\.0\.0\.1:\d+/login\?token=\S+", line)
            login = found.group(0) if found else ""
        assert login, "lac-batch ui printed no login link"
        downloads = folder / "downloads"
        downloads.mkdir()
        browser = _browser(downloads, folder / "profile")
        browser.get(login)
        page = Page(login.split("/login")[0], browser, downloads)
        page.wait(lambda _: page.finds("#file-input"))
        assert "token" not in browser.current_url
        yield page
    finally:
        if browser is not None:
            browser.quit()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def page(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    rate = getattr(request, "param", "50")
    env = {
        **os.environ,
        "LAC_RATE": rate,
        "LAC_CONCURRENCY": "1" if rate != "50" else "4",
        "PYTHONUNBUFFERED": "1",
    }
    with serving_page(["--sandbox", "--port", "0"], env, tmp_path) as served:
        yield served


def test_page_opens_a_sheet_marks_invalid_cells_fixes_them_sends_and_downloads_results(
    page: Page,
) -> None:
    page.open_file(SAMPLES / "requests-with-errors.csv")
    assert "6 rows: 1 valid, 5 invalid" in page.text("#counts")
    # Invalid rows come first, each bad cell marked and explained.
    assert page.cell(3, "connection_key").get_attribute("aria-invalid") == "true"
    assert "connection_key: is empty" in page.text("#row-3 .messages")
    assert "duplicate of row 2" in page.text("#row-6 .messages")
    page.shot("1-opened")
    # The README's picture (docs/web-page.png, copied from here): tall enough for the Columns
    # panel and the marked rows together.
    page.browser.set_window_size(1500, 1750)
    page.shot("web-page")
    page.browser.set_window_size(1500, 1100)

    page.type_into(3, "connection_key", "bank:op")
    for header, text in [
        ("request_type", "setup"),
        ("metadata.monthly_transactions:int", "12"),
        ("metadata.start_date:date", "28.2.2027"),
        ("metadata.vat_registered:bool", "ei"),
        ("metadata.estimated_fee_eur:float", "5"),
    ]:
        page.type_into(4, header, text)
    page.type_into(5, "metadata.start_date:date", "2027-04-01")
    page.type_into(5, "metadata.estimated_fee_eur:float", "1234,50")
    page.type_into(7, "metadata.monthly_transactions:int", "100")
    page.type_into(7, "metadata.estimated_fee_eur:float", "10")
    # The duplicate becomes a request of its own once it differs: revalidated at once.
    page.type_into(6, "note", "Toinen kahvila.")
    assert "6 rows: 6 valid, 0 invalid" in page.text("#counts")

    page.find('button[hx-get="/rows/0/body"]').click()
    page.wait(lambda _: page.finds("#body-json"))
    assert json.loads(page.text("#body-json"))["connection_key"] == "bank:nordea"
    page.shot("2-fixed")

    page.find("#send-button").click()
    page.wait(lambda _: page.finds("#confirm-send"))
    assert "Send 6 valid rows" in page.text("#confirm-text")
    assert "embedded sandbox" in page.text("#confirm-text")
    page.find("#confirm-send").click()
    page.wait(lambda _: page.finds("#results-grid"))
    assert "6 of 6 done" in page.text("#progress-text")
    assert "accepted 6" in page.text("#results-counts")
    assert "requests-with-errors.edited.xlsx" in page.text("#history")  # the run is listed
    page.shot("3-sent", showing="#run-title")

    links = {link.text: link for link in page.finds("a.download")}
    assert set(links) == {
        "requests-with-errors.edited.results.xlsx",
        "requests-with-errors.edited.results.csv",
    }
    for link in links.values():
        link.click()
    csv_path = page.downloads / "requests-with-errors.edited.results.csv"
    xlsx_path = page.downloads / "requests-with-errors.edited.results.xlsx"
    page.wait(lambda _: csv_path.exists() and xlsx_path.exists())
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text("utf-8-sig"))))
    assert [row["status"] for row in rows] == ["accepted"] * 6
    assert [row["connection_key"] for row in rows][:2] == ["bank:nordea", "bank:op"]
    sheet = openpyxl.load_workbook(xlsx_path, read_only=True).active
    assert sheet is not None
    statuses = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert statuses == ["accepted"] * 6

    # Reopening the page shows the run.
    page.browser.get(page.base + "/")
    page.wait(lambda _: page.finds("#results-grid"))
    assert "Recent runs" in page.text("#history")

    responses = page.responses()
    assert len(responses) > 20
    assert not [url for url, body in responses if SANDBOX_WRITE_KEY in body]


def _many_rows(path: Path, count: int) -> Path:
    lines = ["connection_key,request_type,customer_id,note"]
    lines += [f"bank:nordea,setup,,row {number}" for number in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("page", ["4"], indirect=True)
def test_stopping_a_run_midway_leaves_the_rest_not_sent(page: Page, tmp_path: Path) -> None:
    page.open_file(_many_rows(tmp_path / "many.csv", 60))
    page.find("#send-button").click()
    page.wait(lambda _: page.finds("#confirm-send"))
    page.find("#confirm-send").click()
    page.wait(lambda _: re.search(r"\b[2-9] of 60 done", page.text("#progress-text")))
    page.shot("4-sending", showing="#run-title")
    page.click("#stop-button")
    page.wait(lambda _: page.finds("#results-grid"))
    counts = page.text("#results-counts")
    not_sent = int(re.search(r"not_sent (\d+)", counts).group(1))  # type: ignore[union-attr]
    accepted = int(re.search(r"accepted (\d+)", counts).group(1))  # type: ignore[union-attr]
    assert accepted + not_sent == 60 and not_sent > 30
    assert "exit code 130" in counts
    first_row = page.finds("#results-grid tbody tr")[0].text
    assert "not_sent" in first_row
    page.shot("5-stopped", showing="#run-title")
