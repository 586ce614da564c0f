"""What ``submit`` says while it works: notes on standard error, the start line (and the
question, on a terminal), then the progress display.

Apart from ``cli/submit.py`` so that ``submit --help`` does not import the job (pandas, httpx).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from lac_batch.cli.common import ledger_notices, say_results_kept
from lac_batch.cli.progress import ProgressReporter
from lac_batch.jobs.progress import duration_text
from lac_batch.jobs.submit import HeldLedger, SendPlan, SubmitProgress
from lac_batch.model.status import RowResult
from lac_batch.model.stopping import StopHandle
from lac_batch.model.wording import count_of
from lac_batch.sending.engine import Job, RetryNotice, SubmitRun
from lac_batch.settings.config import LogFormat

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


def _on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _how_long(seconds: float) -> str:
    # "about 0 s" reads as if nothing will be sent.
    return "under a second" if seconds < 1 else f"about {duration_text(seconds)}"


def start_text(plan: SendPlan) -> str:
    """``sending 2,494 rows (506 already accepted, 12 invalid) to HOST at ≤ 5/s; about 8 min``."""
    besides = [
        f"{plan.already_accepted:,} already accepted" if plan.already_accepted else "",
        f"{plan.held:,} held as unknown" if plan.held else "",
        f"{plan.invalid:,} invalid" if plan.invalid else "",
    ]
    aside = ", ".join(filter(None, besides))
    where = f"{plan.host} (production)" if plan.production else plan.host
    return (
        f"sending {count_of(plan.requests, 'row')}{f' ({aside})' if aside else ''} to {where} "
        f"at ≤ {plan.rate:g}/s; {_how_long(plan.least_seconds)}"
    )


class _Progress(SubmitProgress):
    """What ``submit`` says while it works: notes on standard error, the start line (and the
    question, on a terminal), then the progress display."""

    def __init__(
        self, log_format: LogFormat, stop: StopHandle, *, announce_new_ledger: bool, ask: bool
    ) -> None:
        self._log_format = log_format
        self._stop = stop
        self._announce = announce_new_ledger
        self._ask = ask
        self._reporter: ProgressReporter | None = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._reporter is not None:
            self._reporter.close()

    def confirm(self, plan: SendPlan) -> bool:
        text = start_text(plan)
        if self._log_format is LogFormat.JSON:
            line = {"event": "start", "message": text, "host": plan.host, **asdict(plan)}
            click.echo(json.dumps(line, ensure_ascii=False), err=True)
        else:
            click.echo(text, err=True)
        if not self._ask or plan.loopback or not plan.requests or not _on_terminal():
            return True
        where = f"{plan.host} (production)" if plan.production else plan.host
        try:
            return click.confirm(
                f"Send {count_of(plan.requests, 'row')} to {where}?", default=False, err=True
            )
        except click.Abort:  # Ctrl-C or end of input at the question: a no
            click.echo("", err=True)
            return False

    def results_kept(self, asked: Path, instead: Path) -> None:
        say_results_kept(asked, instead)

    def ledger_opened(self, ledger: HeldLedger) -> None:
        ledger_notices(ledger, announce=self._announce)

    def file_warning(self, text: str) -> None:
        click.echo(f"Warning: {text}", err=True)

    def sending(self, requests: int) -> None:
        self._reporter = ProgressReporter(requests, log_format=self._log_format).__enter__()

    def retrying(self, notice: RetryNotice) -> None:
        if self._reporter is not None:
            self._reporter.retrying(notice)

    def stopping(self, in_flight: int, most_wait_s: float) -> None:
        if in_flight:
            text = (
                f"stopping: waiting for {count_of(in_flight, 'request')} in flight (at most "
                f"{most_wait_s:g} s); Ctrl-C again abandons them (their outcome becomes unknown)"
            )
        else:
            text = "stopping: no request is in flight; no more will start"
        self._say(text, "stopping", in_flight=in_flight)
        if self._reporter is not None:
            self._reporter.stopping()

    def abandoning(self, in_flight: int) -> None:
        self._say(
            f"abandoning {count_of(in_flight, 'request')} in flight: their outcome is unknown",
            "abandoning",
            in_flight=in_flight,
        )

    def _say(self, text: str, event: str, **fields: Any) -> None:
        if self._reporter is not None:
            self._reporter.note(text, event=event, **fields)
        else:
            click.echo(text, err=True)

    def sent(self, run: SubmitRun) -> None:
        if self._reporter is not None:
            self._reporter.close()

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        if self._reporter is not None:
            self._reporter.attempt_starting(job, attempt_number)

    def row_finished(self, job: Job, result: RowResult) -> None:
        if self._reporter is not None:
            self._reporter.row_finished(job, result)

    def pace(self, latency: float | None, concurrency: int) -> None:
        if self._reporter is not None:
            self._reporter.pace(latency, concurrency)
