"""Benchmark of writing a results workbook: the time of ``write_result_blocks`` alone.

    .venv/bin/python benchmarks/results_writing.py              # 50,000-row .xlsx input
    .venv/bin/python benchmarks/results_writing.py --rows 10000 --repeat 3

The input is the realistic sheet of ``benchmarks/validate.py`` (typed cells: numbers, dates,
booleans; about 0.6 % invalid rows), read and validated once; then the results file is written
``--repeat`` times and the fastest write is reported, with the results file's size. It is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from validate import write_xlsx

from lac_batch.files.gc_pause import collector_paused
from lac_batch.files.results import write_result_blocks
from lac_batch.rows.validation import read_requests, validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "requests.xlsx"
        write_xlsx(source, arguments.rows)
        with collector_paused():
            sheet = read_requests(source)
            report = validate(sheet)
            blocks = report.result_blocks()
        target = Path(folder) / "requests.results.xlsx"
        timings = []
        for _ in range(arguments.repeat):
            gc.collect()
            started = time.perf_counter()
            write_result_blocks(target, sheet.table, blocks, issues=report.row_issues)
            timings.append(time.perf_counter() - started)
        size = target.stat().st_size / 1024**2
    invalid = len(report.row_issues)
    print(
        f"results of {arguments.rows:,} rows ({invalid:,} invalid), .xlsx: fastest of "
        f"{arguments.repeat} writes {min(timings):.2f} s (all: "
        f"{', '.join(f'{t:.2f}' for t in timings)}), {size:.1f} MB"
    )


if __name__ == "__main__":
    main()
