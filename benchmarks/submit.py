"""Benchmark of ``lac-batch submit`` against the embedded sandbox: pacing accuracy and overhead.

    .venv/bin/python benchmarks/submit.py            # 1,000 paced rows, 3,000 unthrottled
    .venv/bin/python benchmarks/submit.py --quick    # 200 / 500 rows (smoke test)
    .venv/bin/python benchmarks/submit.py --case ledger    # only the ledger's cost

Cases (each a function returning result rows, so later cases slot into ``CASES``):

- ``rate 50``: 1,000 rows at ``--rate 50 --concurrency 4``. Judged from the sandbox's own event
  times, not the client's clock, because the promise is about what the server sees: achieved rate
  (n - 1) / (last - first) >= 97 % of 50, and no one-second window holding more than 50 events.
- ``unthrottled``: 3,000 rows at a rate the pacer never waits for, against a plain
  ``httpx.AsyncClient`` loop sending the same bodies and headers at the same concurrency. lac-batch
  is timed end to end (validate, send, results file) and, separately, as a send-only estimate:
  end to end minus a dry run (validate and results file, nothing sent) of the same sheet.
  Baseline and lac-batch alternate (``--rounds``, default twice each) and the best run of each
  counts, because the 2-core box is noisy and client and sandbox share one interpreter. CPU per
  row (the whole process, sandbox thread included) is printed too: it is steadier than wall time.
- ``ledger``: the unthrottled run at concurrency 8 with and without the SQLite ledger (a fresh
  file each time, every attempt committed as ``sending`` before it leaves), alternating, in
  ``--ledger-rounds`` rounds (default 10; the order flips every round). The ledger should cost
  under 10 % of the rows/s: the cost is judged on the medians, because single runs here vary by
  ±20-30 %. The spread, the median of each round's own pair, and CPU per row (the loop thread's,
  and the other threads': sandbox and ledger writer) are printed too. ``--ledger-concurrency
  auto`` runs it with the default concurrency instead.

- ``latency``: the sandbox answering every request after a fixed delay (0.2, 1 and 3 s) at
  ``--rate`` 5 and 20, with the default concurrency (``auto``). Judged from the sandbox's arrival
  times (each request stamped when its body had been read whole, before the delay: what a rate
  limiter counts): arrival rate >= 97 % of the rate, no one-second window over R. The busiest
  window of the event times (stamped after the delay, with the timer's jitter) is printed beside
  it. Rows: 12 s of sending each (``--quick``: 4 s).

Every measured run gets a fresh sandbox, so no run sees another's events or idempotency records.
It is a measurement, not a test: the exit code is 0 whether or not the targets are met.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import httpx

from lac_batch.jobs.submit import LedgerUse, SubmitOptions, SubmitOutcome, submit_sheet
from lac_batch.ledger.store import Ledger
from lac_batch.model.status import RowResult, Status
from lac_batch.rows.validation import RequestSheet, ValidationReport, read_requests, validate
from lac_batch.sandbox import SANDBOX_WRITE_KEY, FaultConfig, SandboxEvent, running_sandbox
from lac_batch.sending.api import ENDPOINT_PATH
from lac_batch.sending.credentials import ApiKey, normalise_base_url
from lac_batch.sending.engine import Job, SubmitObserver, SubmitSettings
from lac_batch.sending.fingerprint import request_fingerprint
from lac_batch.sending.pacing import Concurrency, parse_concurrency
from lac_batch.settings.config import Settings

HEADERS = ("connection_key", "request_type", "note", "metadata.n:int")
PACED_RATE = 50.0
PACED_CONCURRENCY = 4
ACHIEVED_RATE_SHARE = 0.97
UNTHROTTLED_RATE = 1e6
"""Far above anything loopback can reach, so the pacer hands out slots without sleeping."""
BASELINE_SHARE = 0.85
ROUNDS = 2
KEY = ApiKey(SANDBOX_WRITE_KEY)


@dataclass(frozen=True)
class Config:
    workdir: Path
    paced_rows: int
    unthrottled_rows: int
    concurrencies: tuple[int, ...]
    rounds: int
    ledger_rounds: int = 10
    ledger_concurrency: Concurrency = 8
    """Of the ledger case: a number, or ``auto``."""
    latency_seconds: float = 12.0
    """Seconds of sending per latency run (rows = rate x this)."""


@dataclass(frozen=True)
class Timing:
    seconds: float
    cpu_seconds: float
    """Process CPU, sandbox thread included: steadier than wall time on a shared 2-core box."""
    problem: str = ""
    loop_cpu_seconds: float | None = None
    """CPU of the thread that ran the submit (its event loop); None where not measured."""


@dataclass(frozen=True)
class Result:
    case: str
    rows: int
    timing: Timing
    target: str
    passed: bool | None
    """None for a reference row that has no target of its own (the baseline)."""
    note: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.timing.seconds if self.timing.seconds > 0 else float("nan")

    @property
    def cpu_ms_per_row(self) -> float:
        return self.timing.cpu_seconds / self.rows * 1e3


Case = Callable[[Config], list[Result]]


# --- input -------------------------------------------------------------------------------


def write_rows(path: Path, count: int) -> Path:
    """``count`` valid rows, each body distinct, so every row is its own request and event."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for index in range(count):
            writer.writerow((f"bank:bench-{index}", "setup", f"benchmark row {index}", index))
    return path


def load_sheet(config: Config, count: int) -> RequestSheet:
    return read_requests(write_rows(config.workdir / f"rows-{count}.csv", count))


# --- running lac-batch -------------------------------------------------------------------


def run_submit(
    sheet: RequestSheet,
    results: Path,
    base_url: str,
    settings: SubmitSettings,
    dry_run: bool,
    observers: Sequence[SubmitObserver] = (),
    ledger: Ledger | None = None,
) -> tuple[SubmitOutcome, Timing]:
    options = SubmitOptions(base_url=base_url, api_key=KEY, settings=settings, dry_run=dry_run)
    use = LedgerUse(ledger) if ledger is not None else None
    started, cpu_started = time.perf_counter(), time.process_time()
    thread_started = time.thread_time()
    # Never lac-batch's progress display: it writes to stderr and would cost time measured here.
    outcome = submit_sheet(
        sheet, results, options, observers_for=lambda total: observers, ledger=use
    )
    return outcome, Timing(
        time.perf_counter() - started,
        time.process_time() - cpu_started,
        loop_cpu_seconds=time.thread_time() - thread_started,
    )


def check_delivery(outcome: SubmitOutcome, events: Sequence[SandboxEvent], rows: int) -> str:
    """Empty if every row was accepted once; else what went wrong, so a figure is not trusted."""
    accepted = outcome.counts[Status.ACCEPTED]
    if accepted == rows and len(events) == rows:
        return ""
    counts = ", ".join(f"{status} {count}" for status, count in sorted(outcome.counts.items()))
    return f"NOT ALL ACCEPTED: {counts}; {len(events)} sandbox events"


# --- case: rate 50 -----------------------------------------------------------------------


def event_seconds(events: Sequence[SandboxEvent]) -> list[float]:
    return sorted(datetime.fromisoformat(event.time).timestamp() for event in events)


def busiest_window(times: Sequence[float], width: float = 1.0) -> int:
    """Most events in any [t, t + width) with t an event time (sorted input).

    Starting windows only at event times is enough: sliding a window's start forward to its first
    event never loses an event from it.
    """
    most = 0
    end = 0
    for start, moment in enumerate(times):
        while end < len(times) and times[end] < moment + width:
            end += 1
        most = max(most, end - start)
    return most


class StartClock:
    """Wall-clock time of every attempt as it leaves, on the clock the sandbox stamps events with.

    Comparing its busiest window with the sandbox's tells the pacer's own bursts apart from
    bunching on the way to the server.
    """

    def __init__(self) -> None:
        self.times: list[float] = []

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        self.times.append(time.time())

    def row_finished(self, job: Job, result: RowResult) -> None:
        pass


def case_rate_50(config: Config) -> list[Result]:
    rows = config.paced_rows
    sheet = load_sheet(config, rows)
    settings = Settings(rate=PACED_RATE, concurrency=PACED_CONCURRENCY).submit_settings()
    starts = StartClock()
    with running_sandbox() as sandbox:
        outcome, timing = run_submit(
            sheet,
            config.workdir / "results-paced.csv",
            sandbox.base_url,
            settings,
            False,
            observers=(starts,),
        )
        events = sandbox.events()
    problem = check_delivery(outcome, events, rows)
    times = event_seconds(events)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    achieved = (len(times) - 1) / span if span > 0 else float("nan")
    busiest = busiest_window(times)
    floor = PACED_RATE * ACHIEVED_RATE_SHARE
    passed = achieved >= floor and busiest <= PACED_RATE and not problem
    note = (
        f"sandbox events: achieved {achieved:.2f}/s ({achieved / PACED_RATE:.1%} of "
        f"{PACED_RATE:g}), busiest 1-s window {busiest}; client starts: busiest 1-s window "
        f"{busiest_window(sorted(starts.times))}; rows/s column is end to end"
    )
    return [
        Result(
            f"rate {PACED_RATE:g} (c{PACED_CONCURRENCY})",
            rows,
            timing,
            f"events >= {floor:g}/s, window <= {PACED_RATE:g}",
            passed,
            "; ".join(filter(None, [note, problem])),
        )
    ]


# --- case: latency ------------------------------------------------------------------------

LATENCIES_S = (0.2, 1.0, 3.0)
LATENCY_RATES = (5.0, 20.0)


def case_latency(config: Config) -> list[Result]:
    results: list[Result] = []
    for rate in LATENCY_RATES:
        rows = int(rate * config.latency_seconds) + 1
        sheet = load_sheet(config, rows)
        settings = Settings(rate=rate).submit_settings()
        for latency in LATENCIES_S:
            with running_sandbox(FaultConfig(latency_s=latency)) as sandbox:
                outcome, timing = run_submit(
                    sheet,
                    config.workdir / f"results-latency-{rate:g}-{latency:g}.csv",
                    sandbox.base_url,
                    settings,
                    False,
                )
                events = sandbox.events()
                arrivals = sandbox.arrivals()
            problem = check_delivery(outcome, events, rows)
            span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
            achieved = (len(arrivals) - 1) / span if span > 0 else float("nan")
            busiest = busiest_window(arrivals)
            floor = rate * ACHIEVED_RATE_SHARE
            run = outcome.run
            pace = (
                f"; latency seen {run.latency:.2f} s, concurrency at the end {run.concurrency}"
                if run is not None and run.latency is not None
                else ""
            )
            results.append(
                Result(
                    f"rate {rate:g} latency {latency:g} s (auto)",
                    rows,
                    timing,
                    f"arrivals >= {floor:g}/s, window <= {rate:g}",
                    achieved >= floor and busiest <= rate and not problem,
                    "; ".join(
                        filter(
                            None,
                            [
                                f"sandbox arrivals: {achieved:.2f}/s ({achieved / rate:.1%}), "
                                f"busiest 1-s window {busiest} (of event times: "
                                f"{busiest_window(event_seconds(events))}){pace}",
                                problem,
                            ],
                        )
                    ),
                )
            )
    return results


# --- case: unthrottled -------------------------------------------------------------------


async def plain_httpx(url: str, bodies: Sequence[tuple[str, str]], concurrency: int) -> int:
    """What a hand-written client does: N workers, one shared pool, no policy. Returns 202s."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    pending = iter(bodies)
    accepted = 0
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def worker() -> None:
            nonlocal accepted
            for body_json, idempotency_key in pending:
                response = await client.post(
                    url,
                    content=body_json.encode("utf-8"),
                    headers={
                        "Authorization": f"Bearer {SANDBOX_WRITE_KEY}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": idempotency_key,
                    },
                )
                accepted += response.status_code == 202

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted


def run_baseline(report: ValidationReport, concurrency: int) -> Timing:
    with running_sandbox() as sandbox:
        url = sandbox.base_url + ENDPOINT_PATH
        # The exact bodies and Idempotency-Keys lac-batch sends here, prepared outside the timing.
        base = normalise_base_url(sandbox.base_url)
        bodies = [
            (
                row.body_json,
                request_fingerprint(base, KEY.account_hash, row.body_json, row.occurrence),
            )
            for row in report.valid_rows
            if row.body_json is not None
        ]
        started, cpu_started = time.perf_counter(), time.process_time()
        # asyncio.run inside the timing, as submit_sheet does, so both pay for a loop and a pool.
        accepted = asyncio.run(plain_httpx(url, bodies, concurrency))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        events = len(sandbox.events())
    problem = ""
    if accepted != len(bodies) or events != len(bodies):
        problem = f"baseline: {accepted} accepted, {events} sandbox events"
    return Timing(seconds, cpu, problem)


def run_lac_batch(
    sheet: RequestSheet,
    results: Path,
    concurrency: Concurrency,
    dry_run: bool,
    ledger_path: Path | None = None,
) -> Timing:
    """One unthrottled run; with ``ledger_path``, recording into that (fresh) ledger."""
    settings = Settings(rate=UNTHROTTLED_RATE, concurrency=concurrency).submit_settings()
    ledger = Ledger.open(ledger_path) if ledger_path is not None else None
    try:
        with running_sandbox() as sandbox:
            outcome, timing = run_submit(
                sheet, results, sandbox.base_url, settings, dry_run, ledger=ledger
            )
            events = sandbox.events()
    finally:
        if ledger is not None:
            ledger.close()
    if dry_run:
        return timing
    return replace(timing, problem=check_delivery(outcome, events, len(sheet.table.row_numbers)))


def unthrottled(config: Config, concurrency: int) -> list[Result]:
    rows = config.unthrottled_rows
    sheet = load_sheet(config, rows)
    report = validate(sheet)
    results = config.workdir / f"results-unthrottled-c{concurrency}.csv"

    baselines: list[Timing] = []
    lacs: list[Timing] = []
    dries: list[Timing] = []
    for _ in range(config.rounds):
        baselines.append(run_baseline(report, concurrency))
        lacs.append(run_lac_batch(sheet, results, concurrency, dry_run=False))
        # Interleaved with the others so it sees the same state of the box.
        dries.append(run_lac_batch(sheet, results, concurrency, dry_run=True))

    baseline = min(baselines, key=lambda timing: timing.seconds)
    lac = min(lacs, key=lambda timing: timing.seconds)
    dry = min(dries, key=lambda timing: timing.seconds)
    send = Timing(lac.seconds - dry.seconds, lac.cpu_seconds - dry.cpu_seconds)
    problem = "; ".join(timing.problem for timing in baselines + lacs if timing.problem)
    floor = f">= {BASELINE_SHARE:.0%} of baseline"

    def share(timing: Timing) -> float:
        return baseline.seconds / timing.seconds if timing.seconds > 0 else float("nan")

    def cpu_share(timing: Timing) -> float:
        return baseline.cpu_seconds / timing.cpu_seconds if timing.cpu_seconds > 0 else 0.0

    def runs(timings: Sequence[Timing]) -> str:
        return "runs " + ", ".join(f"{rows / t.seconds:,.0f}" for t in timings) + " rows/s"

    def verdict_note(timing: Timing) -> str:
        return f"{share(timing):.0%} of baseline (by CPU/row: {cpu_share(timing):.0%})"

    label = f"unthrottled c{concurrency}"
    return [
        Result(f"{label} httpx loop", rows, baseline, "(baseline)", None, runs(baselines)),
        Result(
            f"{label} lac-batch e2e",
            rows,
            lac,
            floor,
            share(lac) >= BASELINE_SHARE and not problem,
            "; ".join(filter(None, [verdict_note(lac), runs(lacs), problem])),
        ),
        Result(
            f"{label} lac-batch send",
            rows,
            send,
            floor,
            share(send) >= BASELINE_SHARE and not problem,
            f"{verdict_note(send)}; e2e minus a dry run of {dry.seconds:.2f} s "
            "(validate + results file)",
        ),
    ]


def case_unthrottled(config: Config) -> list[Result]:
    return [row for c in config.concurrencies for row in unthrottled(config, c)]


LEDGER_COST_LIMIT = 0.10
LEDGER_CONCURRENCY = 8
"""The ledger case's default concurrency (``--ledger-concurrency``)."""


def median_timing(timings: Sequence[Timing]) -> Timing:
    """Medians of each figure (not one run's), so one slow run cannot decide the verdict."""
    loops = [t.loop_cpu_seconds for t in timings if t.loop_cpu_seconds is not None]
    return Timing(
        statistics.median(t.seconds for t in timings),
        statistics.median(t.cpu_seconds for t in timings),
        loop_cpu_seconds=statistics.median(loops) if loops else None,
    )


def cpu_split(timing: Timing, rows: int) -> str:
    """CPU ms/row of the loop thread and of the other threads (sandbox, ledger writer)."""
    if timing.loop_cpu_seconds is None:
        return f"{timing.cpu_seconds / rows * 1e3:.2f}"
    loop = timing.loop_cpu_seconds / rows * 1e3
    others = (timing.cpu_seconds - timing.loop_cpu_seconds) / rows * 1e3
    return f"{loop:.2f} loop + {others:.2f} other threads"


def case_ledger_cost(config: Config) -> list[Result]:
    """Unthrottled rows/s with and without the ledger, alternating, in the same run."""
    rows = config.unthrottled_rows
    sheet = load_sheet(config, rows)
    results = config.workdir / "results-ledger.csv"
    without: list[Timing] = []
    with_ledger: list[Timing] = []
    for round_number in range(config.ledger_rounds):
        ledger_path = config.workdir / f"ledger-{round_number}.sqlite3"
        # The order flips every round, so drift in the box's load hits both variants alike.
        for use_ledger in (False, True) if round_number % 2 == 0 else (True, False):
            if use_ledger:
                with_ledger.append(
                    run_lac_batch(sheet, results, config.ledger_concurrency, False, ledger_path)
                )
            else:
                without.append(run_lac_batch(sheet, results, config.ledger_concurrency, False))
    plain = median_timing(without)
    kept = median_timing(with_ledger)
    cost = 1 - plain.seconds / kept.seconds
    paired = [1 - a.seconds / b.seconds for a, b in zip(without, with_ledger, strict=True)]
    cpu_cost = 1 - plain.cpu_seconds / kept.cpu_seconds
    problem = "; ".join(timing.problem for timing in without + with_ledger if timing.problem)

    def spread(timings: Sequence[Timing]) -> str:
        speeds = sorted(rows / timing.seconds for timing in timings)
        return f"{len(speeds)} runs, {speeds[0]:,.0f}..{speeds[-1]:,.0f} rows/s"

    label = f"ledger c{config.ledger_concurrency}"
    figures = (
        f"ledger costs {cost:.1%} of rows/s (medians; each round's own pair: median "
        f"{statistics.median(paired):.1%}, {min(paired):.0%}..{max(paired):.0%}) and "
        f"{cpu_cost:.1%} of CPU; CPU ms/row {cpu_split(plain, rows)} without, "
        f"{cpu_split(kept, rows)} with"
    )
    return [
        Result(f"{label} without ledger", rows, plain, "(reference)", None, spread(without)),
        Result(
            f"{label} with ledger",
            rows,
            kept,
            f"costs < {LEDGER_COST_LIMIT:.0%}",
            cost < LEDGER_COST_LIMIT and not problem,
            "; ".join(filter(None, [spread(with_ledger), figures, problem])),
        ),
    ]


CASES: dict[str, Case] = {
    "rate": case_rate_50,
    "unthrottled": case_unthrottled,
    "ledger": case_ledger_cost,
    "latency": case_latency,
}


# --- report ------------------------------------------------------------------------------


def verdict(passed: bool | None) -> str:
    return "-" if passed is None else "PASS" if passed else "MISS"


def print_table(results: Sequence[Result]) -> None:
    header = ("case", "rows", "seconds", "rows/s", "CPU ms/row", "target", "")
    lines = [header] + [
        (
            result.case,
            f"{result.rows:,}",
            f"{result.timing.seconds:.2f}",
            f"{result.rows_per_second:,.1f}",
            f"{result.cpu_ms_per_row:.2f}",
            result.target,
            verdict(result.passed),
        )
        for result in results
    ]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    print()
    for result in results:
        if result.note:
            print(f"{result.case}: {result.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 / 500 rows (smoke test)")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[8, 32],
        help="concurrencies of the unthrottled case (default: 8 32)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=ROUNDS,
        help=f"alternating baseline/lac-batch runs, best of each counts (default: {ROUNDS})",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=list(CASES),
        help="run only this case (repeatable; default: all)",
    )
    parser.add_argument(
        "--ledger-rounds",
        type=int,
        default=None,
        help="rounds of the ledger case, each with and without the ledger; medians count "
        "(default: 10, 3 with --quick)",
    )
    parser.add_argument(
        "--ledger-concurrency",
        type=parse_concurrency,
        default=LEDGER_CONCURRENCY,
        help=f"concurrency of the ledger case: a number or auto (default: {LEDGER_CONCURRENCY})",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lac-batch-bench-") as workdir:
        config = Config(
            workdir=Path(workdir),
            paced_rows=200 if arguments.quick else 1000,
            unthrottled_rows=500 if arguments.quick else 3000,
            concurrencies=tuple(arguments.concurrency),
            rounds=arguments.rounds,
            ledger_rounds=arguments.ledger_rounds or (3 if arguments.quick else 10),
            latency_seconds=4.0 if arguments.quick else 12.0,
            ledger_concurrency=arguments.ledger_concurrency,
        )
        results: list[Result] = []
        for case in [CASES[name] for name in arguments.case or CASES]:
            print(f"running {case.__name__} ...", file=sys.stderr, flush=True)
            results.extend(case(config))
    print_table(results)


if __name__ == "__main__":
    main()
