"""Start-up cost of ``lac-batch``: CPU seconds of short commands, against a bare ``python -c pass``.

    .venv/bin/python benchmarks/startup.py                       # 9 rounds
    .venv/bin/python benchmarks/startup.py --against /tmp/old    # and another source tree

Commands measured, each in a fresh interpreter run as ``python -m lac_batch ...``:

- ``--help`` and ``--version``: target under 0.3 s of CPU (they must not import pandas, pandera
  or httpx; tests/test_fast_start.py checks that, this prints what it costs);
- ``validate`` on a one-row CSV: the fixed cost of the validate command;
- ``run --once`` on an empty inbox (a config in a temporary folder whose ledger folder exists,
  a made-up key, nothing sent): the fixed cost of a scheduled pass that finds nothing to do.

The figure is the child's CPU time (user + system, from ``os.wait4``), not wall time: the machine
may be shared, and other jobs stretch wall time far more than the child's own CPU. Each command
runs once untimed (to write bytecode caches and the ledger), then ``--rounds`` times; the median
and the minimum are printed. With ``--against PATH`` the same commands run with
``PYTHONPATH=PATH`` (checked to import ``lac_batch`` from PATH), interleaved round by round with
this tree's, and a command counts as slower when its median exceeds the other's by over 5 %.
It is a measurement, not a test: the exit code is 0 whether or not the targets are met.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HELP_TARGET_SECONDS = 0.3
SLOWER_BEYOND = 1.05
TIMEOUT_SECONDS = 120.0

_CONFIG = """\
base_url = "http://127.0.0.1:9"
ledger = "state/ledger.sqlite3"

[folders]
inbox = "inbox"
archive = "archive"
results = "results"
failed = "failed"
"""


@dataclass(frozen=True)
class Case:
    name: str
    arguments: tuple[str, ...]  # after ``python``
    target: float | None = None


@dataclass(frozen=True)
class Tree:
    """One lac_batch source to run: this checkout, or another given by --against."""

    label: str
    environment: dict[str, str]
    workdir: Path


def cases(workdir: Path) -> list[Case]:
    one_row = workdir / "one-row.csv"
    config = workdir / "run" / "lac-batch.toml"
    lac_batch = ("-m", "lac_batch")
    return [
        Case("python -c pass", ("-c", "pass")),
        Case("lac-batch --help", (*lac_batch, "--help"), HELP_TARGET_SECONDS),
        Case("lac-batch --version", (*lac_batch, "--version"), HELP_TARGET_SECONDS),
        Case(
            "lac-batch validate (1 row)",
            (*lac_batch, "validate", str(one_row), "--results", str(workdir / "one-row.out.csv")),
        ),
        Case(
            "lac-batch run --once (empty)", (*lac_batch, "run", "--once", "--config", str(config))
        ),
    ]


def prepare(workdir: Path) -> None:
    """A one-row request file (the first row of the bundled sample) and a run folder."""
    with (REPO / "samples" / "requests.csv").open(encoding="utf-8-sig", newline="") as sample:
        header, first_row = sample.readline(), sample.readline()
    (workdir / "one-row.csv").write_text(header + first_row, encoding="utf-8", newline="")
    run = workdir / "run"
    (run / "state").mkdir(parents=True)
    (run / "inbox").mkdir()
    (run / "lac-batch.toml").write_text(_CONFIG, encoding="utf-8")


def environment(pythonpath: Path | None) -> dict[str, str]:
    # No LAC_* setting of the caller's may change what the commands do.
    env = {name: value for name, value in os.environ.items() if not name.startswith("LAC_")}
    env.pop("PYTHONPATH", None)
    env["LAC_API_KEY"] = "lac_sk_test_startupbenchmark0000"
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def imported_from(tree: Tree) -> Path:
    """Where ``tree``'s children import lac_batch from: ``-c`` and ``-m`` put the working folder
    first on sys.path, ahead of PYTHONPATH, so this runs in the same folder as they do."""
    found = subprocess.run(
        [sys.executable, "-c", "import lac_batch; print(lac_batch.__file__)"],
        env=tree.environment,
        cwd=tree.workdir,
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT_SECONDS,
    )
    return Path(found.stdout.strip()).resolve().parent


def cpu_seconds(arguments: Sequence[str], tree: Tree) -> float:
    """Run ``python ARGUMENTS`` once in ``tree``; its CPU time (wall time where no wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *arguments],
        env=tree.environment,
        cwd=tree.workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    watchdog = threading.Timer(TIMEOUT_SECONDS, process.kill)
    watchdog.start()
    try:
        if hasattr(os, "wait4"):
            # This one child's own rusage: RUSAGE_CHILDREN deltas would also work, but only
            # while nothing else is reaped in between.
            _pid, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            seconds = usage.ru_utime + usage.ru_stime
        else:
            process.wait()
            seconds = time.perf_counter() - start
        assert process.stderr is not None
        errors = process.stderr.read().decode("utf-8", errors="replace")
    finally:
        watchdog.cancel()
        if process.stderr is not None:
            process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(
            f"{tree.label}: python {' '.join(arguments)} exited {process.returncode}:\n{errors}"
        )
    return seconds


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed runs per command (default 9)")
    parser.add_argument(
        "--against",
        type=Path,
        metavar="PATH",
        help="another lac-batch source tree (holding lac_batch/) to measure beside this one",
    )
    return parser.parse_args(argv)


def _figure(runs: Sequence[float]) -> str:
    return f"{statistics.median(runs):.3f} ({min(runs):.3f})"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def run(arguments: argparse.Namespace, scratch: Path) -> None:
    trees = [Tree("this tree", environment(None), scratch / "this")]
    if arguments.against is not None:
        other = arguments.against.resolve()
        trees.append(Tree(f"against {other}", environment(other), scratch / "against"))
    for tree in trees:
        tree.workdir.mkdir()
        prepare(tree.workdir)
    wanted = [REPO / "lac_batch"]
    if arguments.against is not None:
        wanted.append(arguments.against.resolve() / "lac_batch")
    for tree, package in zip(trees, wanted, strict=True):
        source = imported_from(tree)
        if source != package:
            raise SystemExit(f"{tree.label}: lac_batch is imported from {source}, not {package}")

    print(
        f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs; "
        f"{'CPU' if hasattr(os, 'wait4') else 'wall (no os.wait4 here)'} seconds of each child, "
        f"median (minimum) of {arguments.rounds} rounds",
        flush=True,
    )
    runs: dict[tuple[str, str], list[float]] = {}
    for tree in trees:
        for case in cases(tree.workdir):
            cpu_seconds(case.arguments, tree)  # untimed: bytecode caches, the new ledger
    for round_number in range(arguments.rounds):
        # Alternate which tree goes first, so a burst of load on the machine hits both alike.
        ordered = trees if round_number % 2 == 0 else trees[::-1]
        for tree in ordered:
            for case in cases(tree.workdir):
                runs.setdefault((tree.label, case.name), []).append(
                    cpu_seconds(case.arguments, tree)
                )

    header = ["command", *(tree.label for tree in trees), "target"]
    if len(trees) == 2:
        header.append("verdict")
    table = [header]
    for case in cases(trees[0].workdir):
        mine = runs[(trees[0].label, case.name)]
        row = [case.name, *(_figure(runs[(tree.label, case.name)]) for tree in trees)]
        target = "-"
        if case.target is not None:
            met = statistics.median(mine) < case.target
            target = f"< {case.target} {'PASS' if met else 'MISS'}"
        row.append(target)
        if len(trees) == 2:
            theirs = statistics.median(runs[(trees[1].label, case.name)])
            ratio = statistics.median(mine) / theirs
            row.append(f"x{ratio:.2f} {'SLOWER' if ratio > SLOWER_BEYOND else 'ok'}")
        table.append(row)
    print(_table(table))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="lac-startup-") as scratch:
        run(arguments, Path(scratch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
