"""``validate --errors`` prints every problem; ``submit --dry-run --bodies`` writes every body."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import WriteCsv, run_cli


def _rows(count: int, invalid: bool) -> list[list[str]]:
    return [["connection_key", "request_type"]] + [
        [f"K{number}", "" if invalid else "setup"] for number in range(count)
    ]


def test_validate_errors_all_prints_every_problem(write_csv: WriteCsv) -> None:
    path = write_csv(_rows(15, invalid=True))
    outcome = run_cli("validate", path, "--errors", "all")
    assert outcome.exit_code == 1
    assert sum(line.startswith("  row ") for line in outcome.stdout.splitlines()) == 15
    assert "more (see the results file)" not in outcome.stdout


def test_validate_errors_a_number_prints_that_many(write_csv: WriteCsv) -> None:
    path = write_csv(_rows(15, invalid=True))
    outcome = run_cli("validate", path, "--errors", "3")
    assert sum(line.startswith("  row ") for line in outcome.stdout.splitlines()) == 3
    assert "… and 12 more (see the results file)" in outcome.stdout


def test_validate_by_default_prints_ten(write_csv: WriteCsv) -> None:
    outcome = run_cli("validate", write_csv(_rows(15, invalid=True)))
    assert sum(line.startswith("  row ") for line in outcome.stdout.splitlines()) == 10


def test_dry_run_bodies_writes_every_body_as_json_lines(
    write_csv: WriteCsv, tmp_path: Path
) -> None:
    path = write_csv(_rows(3, invalid=False))
    bodies = tmp_path / "bodies.jsonl"
    outcome = run_cli("submit", path, "--dry-run", "--bodies", bodies)
    assert outcome.exit_code == 0, outcome.output
    lines = [json.loads(line) for line in bodies.read_text().splitlines()]
    assert [line["row"] for line in lines] == [2, 3, 4]
    assert lines[1]["body"]["connection_key"] == "K1"


def test_bodies_without_dry_run_is_refused_before_anything(
    write_csv: WriteCsv, tmp_path: Path
) -> None:
    outcome = run_cli("submit", write_csv(_rows(1, invalid=False)), "--bodies", tmp_path / "b")
    assert outcome.exit_code == 2
    assert "add --dry-run" in outcome.stderr
