"""The Dagster example for real: its sensor evaluated, its asset materialised in-process against
the sandbox on 127.0.0.1, with a Dagster instance in a temporary folder and telemetry off."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from conftest import INVALID_ROW_NUMBER, VALID_ROWS, Workplace, without_ledger
from lac_batch_dagster import LacBatch, LacInbox, lac_inbox_sensor, lac_submission

from lac_batch.sandbox import FaultConfig


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_DISABLE_TELEMETRY", "1")
    with dg.DagsterInstance.get() as dagster_instance:
        yield dagster_instance


def run_requests(inbox: Path, instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    context = dg.build_sensor_context(
        instance=instance, resources={"inbox": LacInbox(folder=str(inbox), settle_seconds=0)}
    )
    result = lac_inbox_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return list(result.run_requests or [])


def materialise(
    request: dg.RunRequest, instance: dg.DagsterInstance, **lac: object
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [lac_submission],
        run_config=request.run_config,
        instance=instance,
        resources={"lac": LacBatch(rate=50, **lac)},
        raise_on_error=False,
    )


def failure_description(result: dg.ExecuteInProcessResult) -> str:
    failures = [event for event in result.all_events if event.is_step_failure]
    assert len(failures) == 1
    data = failures[0].step_failure_data
    return (data.user_failure_data.description or "") if data.user_failure_data else ""


def test_the_sensor_asks_one_run_per_content_and_the_asset_sends_each_row_once(
    workplace: Workplace, instance: dg.DagsterInstance
) -> None:
    inbox = workplace.sheet.parent
    shutil.copy(workplace.sheet, inbox / "same-content.csv")
    digest = hashlib.sha256(workplace.sheet.read_bytes()).hexdigest()

    requests = run_requests(inbox, instance)

    assert {request.run_key for request in requests} == {f"lac-batch-{digest}"}
    first = materialise(requests[0], instance)
    assert first.success
    assert workplace.events() == VALID_ROWS
    assert workplace.received() == VALID_ROWS
    materialisation = first.asset_materializations_for_node("lac_submission")[0]
    assert materialisation.metadata["bad_rows"].value == [INVALID_ROW_NUMBER]
    # The results file beside the input is no new work; the run asked again sends nothing.
    assert {r.run_key for r in run_requests(inbox, instance)} == {f"lac-batch-{digest}"}
    again = materialise(requests[0], instance)
    assert again.success
    assert workplace.received() == VALID_ROWS
    assert workplace.runs() == 2


def test_an_edited_file_is_a_new_run_key(
    workplace: Workplace, instance: dg.DagsterInstance
) -> None:
    before = run_requests(workplace.sheet.parent, instance)[0].run_key
    with workplace.sheet.open("a", encoding="utf-8") as sheet:
        sheet.write("bank:op,setup,A row added later Oy\r\n")
    assert run_requests(workplace.sheet.parent, instance)[0].run_key != before


def test_unknown_rows_fail_the_run_loudly_without_a_retry(
    workplace: Workplace, instance: dg.DagsterInstance
) -> None:
    # Processed, then the connection closes unanswered: every row may have gone through.
    workplace.sandbox.set_faults(FaultConfig(p_close_after=1.0))
    request = run_requests(workplace.sheet.parent, instance)[0]

    result = materialise(request, instance, task_retries=3, retry_delay_seconds=0)

    assert not result.success
    assert "6 rows are unknown" in failure_description(result)
    assert workplace.runs() == 1  # Dagster did not try again
    assert workplace.events() == VALID_ROWS


def test_failed_rows_are_retried_by_dagster_and_each_row_is_processed_once(
    workplace: Workplace, instance: dg.DagsterInstance
) -> None:
    request = run_requests(workplace.sheet.parent, instance)[0]

    with workplace.failing_until(VALID_ROWS):
        result = materialise(request, instance, max_attempts=1, retry_delay_seconds=0.5)

    assert result.success
    assert workplace.runs() == 2  # the first try's rows failed; Dagster's retry sent them
    keys = [event.idempotency_key for event in workplace.sandbox.events()]
    assert len(keys) == len(set(keys)) == VALID_ROWS


def test_it_refuses_to_run_without_a_durable_ledger(
    workplace: Workplace,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    fleeting_folder: Path,
) -> None:
    request = run_requests(workplace.sheet.parent, instance)[0]
    without_ledger(monkeypatch)

    unnamed = materialise(request, instance)
    in_temp = materialise(request, instance, ledger=str(fleeting_folder / "ledger.sqlite3"))

    assert not unnamed.success
    assert "no ledger named" in failure_description(unnamed)
    assert not in_temp.success
    assert "not on persistent storage" in failure_description(in_temp)
    assert workplace.received() == 0
