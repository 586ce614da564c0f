"""Progress lines off a terminal: plain or JSON, with counts, the current rate, the elapsed
time and the time left."""

from __future__ import annotations

import io
import json

from lac_batch.cli.progress import LogFormat, ProgressReporter
from lac_batch.model.status import RowResult, Status
from lac_batch.sending.engine import Job


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(reporter: ProgressReporter, clock: Clock, count: int, per_second: float) -> None:
    for number in range(count):
        job = Job(number + 2, "{}", f"k{number}")
        reporter.attempt_starting(job, 1)
        clock.now += 1 / per_second
        reporter.row_finished(job, RowResult(number + 2, Status.ACCEPTED, "evt", 202))


def test_plain_lines_every_few_seconds_and_at_the_end() -> None:
    stream, clock = io.StringIO(), Clock()
    reporter = ProgressReporter(60, stream=stream, clock=clock)
    feed(reporter, clock, 60, per_second=4)
    reporter.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "progress: 20/60 rows, accepted 20, 4.0 req/s, elapsed 5 s, about 10 s left"
    assert lines[-1] == "progress: 60/60 rows, accepted 60, 4.0 req/s, elapsed 15 s"
    assert len(lines) == 4


def test_json_lines_have_stable_fields() -> None:
    stream, clock = io.StringIO(), Clock()
    reporter = ProgressReporter(3, log_format=LogFormat.JSON, stream=stream, clock=clock)
    feed(reporter, clock, 3, per_second=2)
    reporter.close()
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line == {
        "event": "progress",
        "done": 3,
        "total": 3,
        "counts": {"accepted": 3},
        "rate_per_s": 2.0,
        "elapsed_s": 1.5,
        "eta_s": 0.0,
        "stopped": False,
        "latency_s": None,
        "concurrency": None,
    }


def test_lines_show_the_latency_and_concurrency_in_use() -> None:
    stream, clock = io.StringIO(), Clock()
    reporter = ProgressReporter(2, stream=stream, clock=clock)
    reporter.pace(1.234, 31)
    feed(reporter, clock, 2, per_second=2)
    reporter.close()
    assert stream.getvalue().splitlines()[-1] == (
        "progress: 2/2 rows, accepted 2, 2.0 req/s, elapsed 1 s, latency 1.23 s, concurrency 31"
    )
    stream = io.StringIO()
    reporter = ProgressReporter(1, log_format=LogFormat.JSON, stream=stream, clock=clock)
    reporter.pace(0.5, 12)
    feed(reporter, clock, 1, per_second=2)
    reporter.close()
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert (line["latency_s"], line["concurrency"]) == (0.5, 12)


def test_counts_group_thousands_as_every_other_count() -> None:
    from lac_batch.model.status import Status
    from lac_batch.model.summary import format_counts

    assert format_counts({Status.ACCEPTED: 1223, Status.NOT_SENT: 7}) == (
        "accepted 1,223, not_sent 7"
    )


def test_a_start_line_for_a_moment_of_sending_does_not_say_about_0_s() -> None:
    from lac_batch.cli.submit_progress import start_text
    from lac_batch.jobs.submit import SendPlan

    plan = SendPlan(2, 0, 0, 0, "http://127.0.0.1:8765/portal", 5.0)
    assert start_text(plan).endswith("; under a second")
    assert "about 0 s" not in start_text(plan)
