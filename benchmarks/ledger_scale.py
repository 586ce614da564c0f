"""How planning a file scales with the ledger's size: a 50,000-row file against a ledger that
already holds 1 M and 10 M request records.

    .venv/bin/python benchmarks/ledger_scale.py                       # SQLite, 1 M and 10 M
    .venv/bin/python benchmarks/ledger_scale.py --records 1000000     # SQLite, 1 M only
    .venv/bin/python benchmarks/ledger_scale.py --postgres URL        # PostgreSQL as well
                                    # (a scratch database: refused if it holds other records)

For each size it prints the time to build the ledger (bulk insert: one ``INSERT … SELECT`` of
generated records with random fingerprints and body digests, then the file's own records), the
database's size on disk, and the time to plan the file against it: the planner lac-batch runs
before sending (``plan_rows``: every valid row's records looked up by body digest, decided).
Half of the file's rows are in the ledger as accepted, so the plan skips 25,000 and sends
25,000; the benchmark checks it did. Free disk space is checked before each build. The page
cache is warm (the ledger was just built), as it is on a machine that runs lac-batch often.

It is a measurement, not a test: the exit code is 0 whatever the times (2 when a part could not
run, saying why).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lac_batch.jobs.submit import held_ledger
from lac_batch.ledger.plan import Action, plan_rows
from lac_batch.ledger.store import Ledger, RequestState, body_hash
from lac_batch.rows.validation import ValidationReport, read_requests, validate
from lac_batch.sending.credentials import normalise_base_url
from lac_batch.sending.fingerprint import request_fingerprint

BASE_URL = normalise_base_url("https://api.app.lastaccountingcompany.com/portal")
ACCOUNT = "benchmark-account"
BYTES_PER_RECORD = 1_200
"""Measured about 790 bytes per record on disk (SQLite, with its indexes: 752 MiB for 1 M);
building needs more (sorting for the indexes), so the check asks for this much per record, and
2 GiB besides."""
SPARE = 2 << 30
_COLUMNS = (
    "fingerprint, base_url, account, key_hash, body_hash, occurrence, generation, state, "
    "event_id, http_status, error, attempts, first_at, last_at, file_name, row_number, run_id, "
    "body"
)


class CannotRun(Exception):
    """A part of the benchmark cannot run here; the message says why."""


@dataclass
class Figures:
    backend: str
    records: int
    build_s: float
    size_bytes: int
    open_s: float
    plan_s: float
    sent: int
    skipped: int


def write_file(path: Path, rows: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["connection_key", "request_type", "metadata.company_name"])
        for n in range(rows):
            writer.writerow(["bank:nordea", "setup", f"Benchmark company {n:06d} Oy"])
    return path


def file_records(report: ValidationReport) -> list[tuple[Any, ...]]:
    """Every other valid row of the file, as accepted records (the plan skips those)."""
    records = []
    for row in list(report.valid_rows)[::2]:
        assert row.body_json is not None
        fingerprint = request_fingerprint(BASE_URL, ACCOUNT, row.body_json, row.occurrence)
        records.append(
            (
                fingerprint,
                BASE_URL,
                ACCOUNT,
                "keyhash",
                body_hash(row.body_json),
                row.occurrence,
                0,
                RequestState.ACCEPTED.value,
                f"evt_{row.row_number}",
                202,
                "",
                1,
                "2026-01-01T00:00:00+00:00",
                "2026-01-01T00:00:00+00:00",
                "earlier.csv",
                row.row_number,
                1,
                row.body_json,
            )
        )
    return records


def check_free_space(folder: Path, records: int) -> None:
    needed = records * BYTES_PER_RECORD + SPARE
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise CannotRun(
            f"{records:,} records need about {needed / 2**30:.1f} GiB in {folder}, "
            f"{free / 2**30:.1f} GiB are free"
        )


def build_sqlite(path: Path, records: int, own: Sequence[tuple[Any, ...]]) -> float:
    """A ledger of ``records`` records (``own`` among them), made as lac-batch makes its schema."""
    started = time.perf_counter()
    Ledger.open(path).close()  # the schema and migrations, exactly as lac-batch has them
    db = sqlite3.connect(path, isolation_level=None)
    try:
        # Written straight into the file, not through the write-ahead log (which would hold a
        # second copy of everything until the checkpoint); lac-batch's WAL mode comes back after.
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -1048576")  # 1 GiB, for the index builds
        # Secondary indexes are built once at the end (a sort), not row by row.
        indexes = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'requests' "
            "AND sql IS NOT NULL"
        ).fetchall()
        db.execute("BEGIN")
        for name, _ in indexes:
            db.execute(f'DROP INDEX "{name}"')
        # Inserted in fingerprint order, as a bulk load would be: random keys one by one into
        # the primary key's B-tree would measure the cache, not the ledger.
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?), "
            "generated AS MATERIALIZED (SELECT i, 'lacb-' || lower(hex(randomblob(20))) AS fp, "
            "lower(hex(randomblob(32))) AS digest FROM n) "
            f"INSERT INTO requests ({_COLUMNS}) SELECT "
            "fp, ?, ?, 'keyhash', digest, 0, 0, 'accepted', 'evt_' || i, 202, '', 1, "
            "'2025-06-01T00:00:00+00:00', '2025-06-01T00:00:00+00:00', 'old.xlsx', i % 50000, "
            "1 + i / 50000, "
            '\'{"connection_key":"bank:nordea","metadata":{"company_name":"Company \' '
            '|| i || \' Oy"},"request_type":"setup"}\' FROM generated ORDER BY fp',
            (records - len(own), BASE_URL, ACCOUNT),
        )
        db.executemany(f"INSERT INTO requests ({_COLUMNS}) VALUES ({', '.join(['?'] * 18)})", own)
        for _, sql in indexes:
            db.execute(sql)
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode = WAL")
    finally:
        db.close()
    return time.perf_counter() - started


def size_on_disk(path: Path) -> int:
    return sum(
        candidate.stat().st_size
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if candidate.exists()
    )


def plan(report: ValidationReport, ledger: Any) -> tuple[float, int, int]:
    started = time.perf_counter()
    planned = plan_rows(report, ledger, base_url=BASE_URL, account=ACCOUNT)
    elapsed = time.perf_counter() - started
    sent = sum(1 for row in planned if row.action is Action.SEND)
    return elapsed, sent, len(planned) - sent


def measure_sqlite(folder: Path, records: int, report: ValidationReport) -> Figures:
    check_free_space(folder, records)
    path = folder / f"ledger-{records}.sqlite3"
    path.unlink(missing_ok=True)
    try:
        build_s = build_sqlite(path, records, file_records(report))
        size = size_on_disk(path)
        started = time.perf_counter()
        ledger = Ledger.open(path)
        open_s = time.perf_counter() - started
        try:
            plan_s, sent, skipped = plan(report, ledger)
        finally:
            ledger.close()
    finally:
        for leftover in folder.glob(f"{path.name}*"):
            leftover.unlink()
    return Figures("SQLite", records, build_s, size, open_s, plan_s, sent, skipped)


@contextmanager
def url_ledger(url: str) -> Iterator[Any]:
    """The ledger at ``url``, opened by lac-batch as ``submit`` opens it (lock, migrations)."""
    try:
        opened = held_ledger(url, command="benchmark")  # type: ignore[arg-type]
        held = opened.__enter__()
    except (AttributeError, TypeError):
        raise CannotRun(
            "this lac-batch does not accept a PostgreSQL ledger URL yet (the backend of issue "
            "18); nothing was measured"
        ) from None
    except Exception as error:  # LacBatchError, or the database driver's own
        raise CannotRun(f"lac-batch could not open the ledger at the URL: {error}") from None
    try:
        yield held.ledger
    finally:
        opened.__exit__(None, None, None)


def measure_postgres(url: str, records: int, report: ValidationReport) -> Figures:
    """PostgreSQL: built with psycopg (``INSERT … SELECT`` from generate_series), planned by
    lac-batch's planner through the ledger URL."""
    with url_ledger(url):
        pass  # the schema and migrations, as lac-batch makes them
    import psycopg

    own = file_records(report)
    started = time.perf_counter()
    with psycopg.connect(url) as db:
        # Only a scratch database: the benchmark removes nothing but its own records.
        row = db.execute("SELECT count(*) FROM requests WHERE account <> %s", (ACCOUNT,)).fetchone()
        if row and row[0]:
            raise CannotRun(
                f"the database holds {row[0]:,} real request records: use a scratch one"
            )
        db.execute("DELETE FROM requests WHERE account = %s", (ACCOUNT,))
        db.execute(
            f"INSERT INTO requests ({_COLUMNS}) SELECT "
            "'lacb-' || substr(md5(random()::text) || md5(random()::text), 1, 40), %s, %s, "
            "'keyhash', md5(random()::text) || md5(random()::text), 0, 0, 'accepted', "
            "'evt_' || i, 202, '', 1, '2025-06-01T00:00:00+00:00', "
            "'2025-06-01T00:00:00+00:00', 'old.xlsx', mod(i, 50000), 1 + i / 50000, "
            '\'{"connection_key":"bank:nordea","metadata":{"company_name":"Company \' '
            '|| i || \' Oy"},"request_type":"setup"}\' FROM generate_series(1, %s) AS i',
            (BASE_URL, ACCOUNT, records - len(own)),
        )
        with db.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO requests ({_COLUMNS}) VALUES ({', '.join(['%s'] * 18)})", own
            )
        db.execute("ANALYZE requests")
        row = db.execute("SELECT pg_database_size(current_database())").fetchone()
        size = int(row[0]) if row else 0
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    with url_ledger(url) as ledger:
        open_s = time.perf_counter() - started
        plan_s, sent, skipped = plan(report, ledger)
    return Figures("PostgreSQL", records, build_s, size, open_s, plan_s, sent, skipped)


def show(figures: Figures) -> None:
    print(
        f"{figures.backend:<10} {figures.records:>11,} records: built in {figures.build_s:7.1f} s, "
        f"{figures.size_bytes / 2**20:8.0f} MiB on disk; opened in {figures.open_s:.2f} s, "
        f"planned in {figures.plan_s:.2f} s ({figures.sent:,} to send, "
        f"{figures.skipped:,} skipped)",
        flush=True,
    )
    expected_skips = (figures.sent + figures.skipped + 1) // 2
    if figures.skipped != expected_skips:
        print(f"  WRONG: expected {expected_skips:,} skipped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the file planned")
    parser.add_argument("--workdir", type=Path, help="where the ledgers are built (default: temp)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure this PostgreSQL database (a scratch one: refused if it holds records)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    args = parser.parse_args(argv)
    problems = 0
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        folder = Path(work)
        started = time.perf_counter()
        report = validate(read_requests(write_file(folder / "requests.csv", args.rows)))
        print(
            f"file: {args.rows:,} rows, read and validated in "
            f"{time.perf_counter() - started:.1f} s (not counted below)",
            flush=True,
        )
        for records in sorted(args.records):
            measures = [] if args.no_sqlite else [("SQLite", measure_sqlite, folder)]
            if args.postgres:
                measures.append(("PostgreSQL", measure_postgres, args.postgres))
            for backend, measure, where in measures:
                try:
                    show(measure(where, records, report))  # type: ignore[operator]
                except CannotRun as reason:
                    print(f"{backend:<10} {records:>11,} records: not measured: {reason}")
                    problems += 1
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
