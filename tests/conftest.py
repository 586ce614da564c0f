"""Shared fixtures: writing small request files and running the CLI in-process."""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from click.testing import CliRunner
from pg_server import PgServer, running_postgres
from sandbox_fixtures import client_for

from lac_batch.cli.main import main
from lac_batch.jobs.submit import ledger_location as ledger_location_of
from lac_batch.ledger.store import Ledger
from lac_batch.sandbox import SANDBOX_WRITE_KEY, Sandbox, running_sandbox

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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    """One real PostgreSQL server for the session (see tests/pg_server.py); never skipped."""
    with running_postgres() as server:
        yield server


BACKENDS = ("sqlite", "postgresql")


def open_ledger(location: str) -> Ledger:
    """Open the ledger a ``ledger_location`` names (a file's path or a PostgreSQL URL)."""
    found = ledger_location_of(location)
    assert found is not None
    return Ledger.open(found)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that asks for ``ledger_backend`` runs once per ledger backend."""
    if "ledger_backend" in metafunc.fixturenames:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize(
            "ledger_backend", BACKENDS[:1] if sqlite_only else BACKENDS, indirect=True
        )


@pytest.fixture
def ledger_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ledger_location(
    ledger_backend: str,
    private_ledger: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A fresh ledger of the test's backend: the SQLite file of ``private_ledger``, or a new
    PostgreSQL database's URL; LAC_LEDGER names it."""
    if ledger_backend == "postgresql":
        server: PgServer = request.getfixturevalue("postgres")
        location = server.new_database()
    else:
        location = str(private_ledger)
    monkeypatch.setenv("LAC_LEDGER", location)
    return location


@pytest.fixture(autouse=True)
def private_ledger(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """Every test gets its own ledger and state folder: none touches the user's real ones. The
    ledger's folder exists (a named ledger's folder must) and lies outside tmp_path, which
    tests list. (A test asking for ``ledger_location`` gets that ledger instead.)"""
    path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite3"
    monkeypatch.setenv("LAC_LEDGER", str(path))
    # platformdirs' user state folder on Linux (the results-fallback folder lives there).
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "user-state"))
    monkeypatch.delenv("LAC_ACCOUNT", raising=False)
    return path


def read_results_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV results file as dicts, result block included (values as written)."""
    text = path.read_text(encoding="utf-8-sig")
    delimiter = max(",;\t", key=text.splitlines()[0].count)
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A sandbox on 127.0.0.1 with the default keys and no faults (change with set_faults).

    It ignores Idempotency-Key, as the real API may, so a request sent twice becomes two events
    and every test that counts events catches a double send; tests of the sandbox's own
    idempotency mark themselves ``honours_idempotency_key``.
    """
    honour = request.node.get_closest_marker("honours_idempotency_key") is not None
    with running_sandbox(honour_idempotency_key=honour) as server:
        yield server


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A plain httpx client for the ``sandbox`` fixture (no proxy settings from the env)."""
    with client_for(sandbox) as http:
        yield http


def sandbox_env(server: Sandbox, key: str = SANDBOX_WRITE_KEY) -> dict[str, str]:
    return {"LAC_API_KEY": key, "LAC_BASE_URL": server.base_url}


def load_script(path: Path) -> ModuleType:
    """Import a file outside the package (a benchmark, an example) as a module named after it."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
