"""Whatever the faults: every row has exactly one final status, and the sandbox agrees."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES, read_results_csv, run_cli, sandbox_env

from lac_batch.payload import canonical_json
from lac_batch.reader import read_table
from lac_batch.sandbox import FaultConfig, Sandbox

FINAL = {"accepted", "rejected", "failed", "unknown", "not_sent", "invalid"}


def random_faults(rng: random.Random) -> FaultConfig:
    weights = [rng.random() for _ in range(5)]
    scale = rng.uniform(0.1, 0.6) / sum(weights)
    p_429, p_503, p_500, p_before, p_after = (weight * scale for weight in weights)
    return FaultConfig(
        p_429=p_429,
        retry_after_s=0,
        p_503=p_503,
        p_500=p_500,
        p_close_before=p_before,
        p_close_after=p_after,
        latency_jitter_s=rng.choice([0.0, 0.01]),
        seed=rng.randrange(10**6),
    )


@pytest.mark.parametrize("seed", range(8))
def test_random_fault_mix_accounts_for_every_row(
    tmp_path: Path, sandbox: Sandbox, seed: int
) -> None:
    rng = random.Random(seed)
    sandbox.set_faults(random_faults(rng))
    path = Path(shutil.copy(SAMPLES / "requests-with-errors.csv", tmp_path / "mixed.csv"))
    extra = Path(shutil.copy(SAMPLES / "requests.csv", tmp_path / "requests.csv"))
    # Both files together: some invalid rows, many valid ones.
    path.write_bytes(path.read_bytes() + b"".join(extra.read_bytes().splitlines(True)[1:25]))
    retry_ambiguous = ["--retry-ambiguous"] if rng.random() < 0.5 else []
    outcome = run_cli(
        "submit",
        path,
        "--rate",
        "500",
        "--concurrency",
        str(rng.choice([1, 4, 8])),
        "--max-attempts",
        "3",
        *retry_ambiguous,
        env=sandbox_env(sandbox),
    )
    assert outcome.exit_code in (0, 1), outcome.output

    input_rows = read_table(path).row_numbers
    results = read_results_csv(tmp_path / "mixed.results.csv")
    assert [int(row["row"]) for row in results] == input_rows
    assert all(row["status"] in FINAL for row in results)

    events = sandbox.events()
    keys = [event.idempotency_key for event in events]
    assert len(keys) == len(set(keys)), "a request became two events"
    event_by_body = {canonical_json(event.body): event for event in events}
    assert len(event_by_body) == len(events)

    table = read_table(path)
    for row, cells in zip(results, table.rows, strict=True):
        status = row["status"]
        if status == "accepted":
            event = event_by_body.pop(body_of(cells, table.headers))
            assert row["event_id"] == event.event_id
        elif status in ("failed", "not_sent", "rejected"):
            assert body_of(cells, table.headers) not in event_by_body, row
    # What is left was processed without an answer: each must be an `unknown` row.
    unknown_bodies = {
        body_of(cells, table.headers)
        for row, cells in zip(results, table.rows, strict=True)
        if row["status"] == "unknown"
    }
    assert set(event_by_body) <= unknown_bodies


def body_of(cells: list[str], headers: list[str]) -> str:
    """The canonical body the tool builds for one sample row (via validate, not by hand)."""
    from lac_batch.columns import plan_columns
    from lac_batch.table import FileFormat, RawTable
    from lac_batch.validation import RequestSheet, validate

    table = RawTable(Path("x.csv"), FileFormat.CSV, headers, [cells], [2])
    verdict = validate(RequestSheet(table, plan_columns(headers, table.path))).rows[0]
    return verdict.body_json or json.dumps(None)
