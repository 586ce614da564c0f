"""The page's Columns panel and unknowns worklist, end to end in headless Chromium.

``lac-batch ui --config`` runs against a sandbox this test process starts (idempotency off, so
every POST is counted per Idempotency-Key), with a private ledger; the browser helpers are
those of tests/test_web_page.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from test_web_page import Page, serving_page

from lac_batch.sandbox import SANDBOX_WRITE_KEY, FaultConfig, Sandbox, running_sandbox
from lac_batch.sandbox.keys import SANDBOX_COMPANY_ID

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def counting_sandbox() -> Iterator[Sandbox]:
    with running_sandbox(honour_idempotency_key=False) as server:
        yield server


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "lac-batch.toml"
    path.write_bytes(b"# the office's settings\r\nrate = 20\r\n")
    return path


@pytest.fixture
def ui(tmp_path: Path, counting_sandbox: Sandbox, config: Path) -> Iterator[Page]:
    env = {
        **os.environ,
        "LAC_API_KEY": SANDBOX_WRITE_KEY,
        "LAC_BASE_URL": counting_sandbox.base_url,
        "LAC_LEDGER": str(tmp_path / "ledger.sqlite3"),
        "LAC_MAX_ATTEMPTS": "1",
        "LAC_MAX_WAIT": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LAC_BATCH_CONFIG", None)
    with serving_page(["--config", str(config)], env, tmp_path) as page:
        yield page


NEAR_MISSES = (
    f"connection_key,request_type,custmer_id,Notes\nbank:nordea,setup,{SANDBOX_COMPANY_ID},first\n"
)


def _send(page: Page) -> None:
    page.click("#send-button")
    page.wait(lambda _: page.finds("#confirm-send"))
    page.click("#confirm-send")
    page.wait(lambda _: page.finds("#results-grid"))


def test_near_misses_block_sending_until_mapped_then_bodies_carry_them_and_a_profile_is_saved(
    ui: Page, tmp_path: Path, counting_sandbox: Sandbox, config: Path
) -> None:
    sheet = tmp_path / "export.csv"
    sheet.write_text(NEAR_MISSES, encoding="utf-8")
    ui.open_file(sheet)
    assert "did you mean customer_id?" in ui.text("#column-2")
    assert "did you mean note?" in ui.text("#column-3")
    ui.shot("6-columns-near-misses", showing="#columns-title")
    ui.click("#send-button")
    ui.wait(lambda _: ui.finds("#run .problem"))
    assert "'Notes': did you mean note?" in ui.text("#run .problem")
    assert not ui.finds("#confirm-send")

    ui.click("#column-2 .use-suggestion")
    ui.wait(
        lambda _: (
            "customer_id" in ui.text("#column-2") and "the Columns panel" in ui.text("#column-2")
        )
    )
    field = ui.find("#map-3")
    field.send_keys("note")
    ui.click("#column-3 button:not(.use-suggestion):not(.ignore):not(.undo)")
    ui.wait(
        lambda _: (
            "mapped" not in ui.text("#column-3") or "the Columns panel" in ui.text("#column-3")
        )
    )
    ui.wait(lambda _: not ui.finds(".near-miss"))
    ui.shot("7-columns-mapped", showing="#columns-title")
    _send(ui)
    assert "accepted 1" in ui.text("#results-counts")
    bodies = [event.body for event in counting_sandbox.events()]
    assert bodies == [
        {
            "connection_key": "bank:nordea",
            "request_type": "setup",
            "customer_id": SANDBOX_COMPANY_ID,
            "note": "first",
        }
    ]

    before = config.read_bytes()
    ui.find("#profile-name").send_keys("client-a")
    ui.click("#save-profile")
    ui.wait(lambda _: ui.finds("#columns-note"))
    assert "Saved as profile client-a" in ui.text("#columns-note")
    assert ui.text("#profile-in-use") == "client-a"
    after = config.read_bytes()
    assert after.startswith(before)
    assert b"[profiles.client-a.columns]\r\n" in after
    ui.shot("8-profile-saved", showing="#columns-title")
    shown = run_cli("columns", sheet, "--config", config)
    assert shown.exit_code == 0, shown.output
    assert "profile client-a" in shown.stdout
    assert "custmer_id → customer_id" in shown.stdout


def test_saving_a_profile_with_a_near_miss_left_is_refused(
    ui: Page, tmp_path: Path, config: Path
) -> None:
    sheet = tmp_path / "export.csv"
    sheet.write_text(NEAR_MISSES, encoding="utf-8")
    ui.open_file(sheet)
    before = config.read_bytes()
    ui.find("#profile-name").send_keys("client-a")
    ui.click("#save-profile")
    ui.wait(lambda _: ui.finds("#columns-problem"))
    assert "did you mean" in ui.text("#columns-problem")
    assert config.read_bytes() == before


ROWS = "connection_key,request_type,note\nbank:b0,setup,zero\nbank:b1,setup,one\n"


def test_unknowns_are_resolved_in_the_page_resend_once_and_accepted_is_skipped(
    ui: Page, tmp_path: Path, counting_sandbox: Sandbox
) -> None:
    sheet = tmp_path / "requests.csv"
    sheet.write_text(ROWS, encoding="utf-8")
    counting_sandbox.set_faults(FaultConfig(p_close_after=1.0))
    ui.open_file(sheet)
    _send(ui)
    counting_sandbox.set_faults(FaultConfig())
    assert "unknown 2" in ui.text("#results-counts")
    ui.click('button[hx-get="/history"]')
    ui.wait(lambda _: len(ui.finds("table.unknowns tbody tr")) == 2)
    keys = [
        row.get_attribute("id").removeprefix("unknown-")
        for row in ui.finds("table.unknowns tbody tr")
    ]  # type: ignore[union-attr]
    assert "bank:b0" in ui.text(f"#unknown-{keys[0]}")
    ui.shot("9-unknowns", showing="#unknowns-title")
    received = counting_sandbox.received()
    assert received[keys[0]] == 1 and received[keys[1]] == 1

    ui.find(f"#unknown-{keys[0]} input[name=note]").send_keys("not in the portal")
    ui.click(f"#unknown-{keys[0]} button.resend")
    ui.wait(lambda _: ui.finds("#worklist-note"))
    assert "Resent with the same Idempotency-Key: accepted" in ui.text("#worklist-note")
    assert counting_sandbox.received()[keys[0]] == 2  # exactly one more, same key

    ui.find(f"#unknown-{keys[1]} input[name=event_id]").send_keys("evt_portal_1")
    ui.click(f"#unknown-{keys[1]} button.accepted")
    ui.wait(lambda _: ui.finds("#no-unknowns"))
    resolved = ui.text("#resolved")
    assert "accepted (event evt_portal_1)" in resolved
    assert "not processed" in resolved and "not in the portal" in resolved
    ui.shot("10-resolved", showing="#unknowns-title")

    rerun = run_cli(
        "submit",
        sheet,
        "--results",
        tmp_path / "again.csv",
        env={
            "LAC_API_KEY": SANDBOX_WRITE_KEY,
            "LAC_BASE_URL": counting_sandbox.base_url,
            "LAC_LEDGER": str(tmp_path / "ledger.sqlite3"),
        },
    )
    assert rerun.exit_code == 0, rerun.output
    assert counting_sandbox.received()[keys[1]] == 1  # skipped: resolved accepted
    assert counting_sandbox.received()[keys[0]] == 2
