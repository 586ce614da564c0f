"""The page's guards, in process: login, cookie, CSRF and Origin, Host, downloads, loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLES
from starlette.testclient import TestClient

from lac_batch.jobs.submit import SubmitOptions
from lac_batch.model.errors import UsageError
from lac_batch.sending.credentials import ApiKey
from lac_batch.web.app import PageSettings, create_app
from lac_batch.web.security import Gate
from lac_batch.web.server import check_loopback, write_redirect_file
from lac_batch.web.workspace import SessionFiles, safe_file_name

PORT = 18765
BASE = f"http://127.0.0.1:{PORT}"
SECRET = "lac_sk_secret_never_shown"


@pytest.fixture
def gate_and_client(tmp_path: Path) -> Iterator[tuple[Gate, TestClient]]:
    options = SubmitOptions(base_url="http://127.0.0.1:9/portal", api_key=ApiKey(SECRET))
    settings = PageSettings(options, "127.0.0.1:9", tmp_path / "ledger.sqlite3", tmp_path / "s")
    gate = Gate(PORT, lambda _: {})
    with TestClient(create_app(settings, gate), base_url=BASE) as client:
        yield gate, client


def _logged_in(gate: Gate, client: TestClient) -> str:
    assert gate.token is not None
    answer = client.get(f"/login?token={gate.token}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = client.get("/")
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_without_the_login_token_every_request_is_refused(
    gate_and_client: tuple[Gate, TestClient],
) -> None:
    _gate, client = gate_and_client
    assert client.get("/").status_code == 403
    assert client.get("/static/htmx-2.0.11.min.js").status_code == 403
    assert client.get("/login?token=wrong").status_code == 403


def test_the_login_token_works_once_and_appears_in_no_page(
    gate_and_client: tuple[Gate, TestClient],
) -> None:
    gate, client = gate_and_client
    token = gate.token
    assert token is not None
    _logged_in(gate, client)
    assert token not in client.get("/").text
    other = TestClient(client.app, base_url=BASE)
    assert other.get(f"/login?token={token}").status_code == 403


def test_a_wrong_host_header_is_refused_even_with_a_session(
    gate_and_client: tuple[Gate, TestClient],
) -> None:
    gate, client = gate_and_client
    _logged_in(gate, client)
    assert client.get("/", headers={"host": f"evil.example:{PORT}"}).status_code == 403
    assert client.get("/", headers={"host": "127.0.0.1:1"}).status_code == 403
    assert client.get("/", headers={"host": f"localhost:{PORT}"}).status_code == 200


def test_a_cross_origin_or_tokenless_post_is_refused(
    gate_and_client: tuple[Gate, TestClient],
) -> None:
    gate, client = gate_and_client
    csrf = _logged_in(gate, client)
    upload = {"file": ("r.csv", (SAMPLES / "requests-with-errors.csv").read_bytes())}
    refused = [
        {"origin": "http://evil.example", "x-csrf-token": csrf},
        {"x-csrf-token": csrf},
        {"origin": BASE},
        {"origin": BASE, "x-csrf-token": "forged"},
    ]
    for headers in refused:
        assert client.post("/open", files=upload, headers=headers).status_code == 403
    answer = client.post("/open", files=upload, headers={"origin": BASE, "x-csrf-token": csrf})
    assert answer.status_code == 200 and "5 invalid" in answer.text


def test_a_download_name_cannot_escape_the_sessions_folder(
    gate_and_client: tuple[Gate, TestClient], tmp_path: Path
) -> None:
    gate, client = gate_and_client
    _logged_in(gate, client)
    (tmp_path / "secret.txt").write_text("secret")
    for name in ["..%2F..%2Fsecret.txt", "../secret.txt", "%2E%2E/secret.txt", "r.csv"]:
        assert client.get(f"/files/{name}").status_code == 404
    files = SessionFiles(tmp_path / "session")
    with pytest.raises(ValueError):
        files.offer(tmp_path / "secret.txt")
    assert files.lookup("../secret.txt") is None


def test_an_upload_too_large_is_refused_in_one_paragraph(
    gate_and_client: tuple[Gate, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, client = gate_and_client
    csrf = _logged_in(gate, client)
    monkeypatch.setattr("lac_batch.web.app.MAX_UPLOAD_BYTES", 1000)
    upload = {"file": ("big.csv", b"connection_key,request_type\n" + b"a,b\n" * 50_000)}
    answer = client.post("/open", files=upload, headers={"origin": BASE, "x-csrf-token": csrf})
    assert answer.status_code == 200 and "larger than" in answer.text


def test_a_file_that_is_no_spreadsheet_gets_the_clis_paragraph(
    gate_and_client: tuple[Gate, TestClient],
) -> None:
    gate, client = gate_and_client
    csrf = _logged_in(gate, client)
    upload = {"file": ("fake.xlsx", b"%PDF-1.4 not a workbook")}
    answer = client.post("/open", files=upload, headers={"origin": BASE, "x-csrf-token": csrf})
    assert 'role="alert"' in answer.text and "fake.xlsx" in answer.text
    assert "Traceback" not in answer.text and SECRET not in answer.text


def test_the_page_refuses_to_bind_anything_but_loopback() -> None:
    for host in ["0.0.0.0", "192.168.1.5", "example.com", "::"]:
        with pytest.raises(UsageError):
            check_loopback(host)
    check_loopback("127.0.0.1")
    check_loopback("::1")


def test_the_login_redirect_file_is_private(tmp_path: Path) -> None:
    path = write_redirect_file(tmp_path, "http://127.0.0.1:1/login?token=abc")
    assert path.stat().st_mode & 0o777 == 0o600
    assert "token=abc" in path.read_text()


def test_upload_names_are_plain_names() -> None:
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("..\\..\\x.XLSX") == "x.xlsx"
    assert safe_file_name("my sheet (1).csv") == "my_sheet_1.csv"
    assert safe_file_name("...") == "upload"


@pytest.mark.parametrize(
    "route", ["/columns", "/columns/profile", "/unknowns/resolve", "/unknowns/resend"]
)
def test_the_new_routes_refuse_a_post_without_the_csrf_token_or_from_elsewhere(
    gate_and_client: tuple[Gate, TestClient], route: str
) -> None:
    gate, client = gate_and_client
    csrf = _logged_in(gate, client)
    form = {"key": "lacb-x", "resolution": "accepted", "position": "0", "name": "p"}
    assert client.post(route, data=form, headers={"Origin": BASE}).status_code == 403
    other = {"Origin": "http://evil.example", "X-CSRF-Token": csrf}
    assert client.post(route, data=form, headers=other).status_code == 403
