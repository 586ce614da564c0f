"""Benchmark of the web page's server side with a 50,000-row sheet.

    .venv/bin/python benchmarks/ui.py              # 50,000 rows (CSV and XLSX)
    .venv/bin/python benchmarks/ui.py --rows 5000  # a smaller sheet

Through the real app (Starlette's test client, with login, cookie and CSRF token, the same
routes the browser uses) it times: opening the sheet (upload sent → first page of the grid
answered), paging (a page of 50 rows, invalid first, then a later page), and fixing one cell
(the row revalidated, duplicates too, and the page of the grid answered again). Targets: the
first page within 2 s of the upload; paging and revalidation under 100 ms at the server. It is
a measurement, not a test: the exit code is 0 whether or not the targets are met.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import xlsxwriter
from starlette.testclient import TestClient

from lac_batch.jobs.submit import SubmitOptions
from lac_batch.sending.credentials import ApiKey
from lac_batch.web.app import PageSettings, create_app
from lac_batch.web.security import Gate

PORT = 18766
BASE = f"http://127.0.0.1:{PORT}"
HEADER = [
    "connection_key",
    "request_type",
    "customer_id",
    "note",
    "metadata.company_name",
    "metadata.monthly_transactions:int",
    "metadata.start_date:date",
]


def _rows(count: int) -> list[list[str]]:
    rows = []
    for number in range(count):
        # One row in fifty is invalid (no connection key), so the invalid-first page is full.
        key = "" if number % 50 == 7 else f"bank:bank{number % 13}"
        rows.append(
            [
                key,
                "setup",
                f"C{number:06d}",
                f"note {number}",
                f"Company {number} Oy",
                str(number % 900),
                "2027-02-01",
            ]
        )
    return rows


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _xlsx(path: Path, rows: list[list[str]]) -> Path:
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("requests")
    sheet.write_row(0, 0, HEADER)
    for index, row in enumerate(rows, start=1):
        sheet.write_row(index, 0, row)
    workbook.close()
    return path


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def measure(path: Path, folder: Path) -> None:
    options = SubmitOptions(base_url="http://127.0.0.1:9/portal", api_key=ApiKey("unused"))
    settings = PageSettings(options, "nowhere", folder / "ledger.sqlite3", folder / "sessions")
    gate = Gate(PORT, lambda _: {})
    with TestClient(create_app(settings, gate), base_url=BASE) as client:
        client.get(f"/login?token={gate.token}")
        found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/").text)
        assert found is not None
        headers = {"origin": BASE, "x-csrf-token": found.group(1)}
        data = path.read_bytes()
        started = time.perf_counter()
        answer = client.post(
            "/open", files={"file": (path.name, io.BytesIO(data))}, headers=headers
        )
        opened = time.perf_counter() - started
        assert "invalid" in answer.text, answer.text[:500]
        pages = []
        for page in (1, 2, 500, 999, 20):
            started = time.perf_counter()
            client.get(f"/rows?filter=all&page={page}")
            pages.append(time.perf_counter() - started)
        edits = []
        for position in (7, 57, 30_007, 107):
            started = time.perf_counter()
            answer = client.post(
                "/cell",
                data={
                    "position": str(position),
                    "column": "0",
                    "value": "bank:fixed",
                    "filter": "all",
                    "page": "1",
                },
                headers=headers,
            )
            edits.append(time.perf_counter() - started)
            assert answer.status_code == 200
    size = len(data) / (1024 * 1024)
    print(f"{path.name} ({size:.1f} MB)")
    print(f"  open: upload sent → first page answered  {_ms(opened)}   (target 2000 ms)")
    print(
        f"  page of 50 rows: median {_ms(statistics.median(pages))}, max {_ms(max(pages))}"
        "   (target 100 ms)"
    )
    print(
        f"  fix one cell → row revalidated, page answered: median "
        f"{_ms(statistics.median(edits))}, max {_ms(max(edits))}   (target 100 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    arguments = parser.parse_args()
    rows = _rows(arguments.rows)
    with tempfile.TemporaryDirectory(prefix="lac-batch-ui-bench-") as scratch:
        folder = Path(scratch)
        print(f"{arguments.rows} rows, Python {sys.version.split()[0]}")
        measure(_csv(folder / "requests.csv", rows), folder / "csv")
        measure(_xlsx(folder / "requests.xlsx", rows), folder / "xlsx")


if __name__ == "__main__":
    main()
