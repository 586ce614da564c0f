"""Shared fixtures: writing small request files and running the CLI in-process."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from lac_batch.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


@dataclass(frozen=True)
class CliOutcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> CliOutcome:
    """Run ``lac-batch ARGS`` in this process; unexpected exceptions propagate to the test."""
    result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False, env=env)
    assert "Traceback" not in result.output
    return CliOutcome(result.exit_code, result.stdout, result.stderr)


def csv_text(rows: Sequence[Sequence[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


WriteCsv = Callable[..., Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """write_csv(rows, name="requests.csv", delimiter=",", encoding="utf-8") → path."""

    def write(
        rows: Sequence[Sequence[str]],
        name: str = "requests.csv",
        delimiter: str = ",",
        encoding: str = "utf-8",
    ) -> Path:
        path = tmp_path / name
        path.write_bytes(csv_text(rows, delimiter).encode(encoding))
        return path

    return write


HEADER = ["connection_key", "request_type", "customer_id", "note"]


def read_results_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV results file as dicts, result block included (values as written)."""
    text = path.read_text(encoding="utf-8-sig")
    delimiter = max(",;\t", key=text.splitlines()[0].count)
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
