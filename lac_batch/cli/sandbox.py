"""``lac-batch sandbox``: serve the sandbox in the foreground until Ctrl-C."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from http import HTTPStatus
from pathlib import Path

import click

from lac_batch.cli.help import LacCommand
from lac_batch.model.exit_codes import ExitCode
from lac_batch.sandbox.app import ENDPOINT_PATH, SandboxState
from lac_batch.sandbox.faults import FaultConfig
from lac_batch.sandbox.keys import (
    DEFAULT_SANDBOX_KEYS,
    SANDBOX_COMPANY_ID,
    SANDBOX_READ_KEY,
    SANDBOX_WRITE_KEY,
)
from lac_batch.sandbox.server import base_url, bind_socket, run_in_foreground

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

DEFAULT_PORT = 8765
_PROBABILITY = click.FloatRange(0.0, 1.0)
_SECONDS = click.FloatRange(min=0.0)


class _CannotServe(click.ClickException):
    exit_code = ExitCode.UNUSABLE


@click.command("sandbox", cls=LacCommand)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append every accepted event to this file as a JSON line.",
)
@click.option("--latency", default=0.0, type=_SECONDS, help="Seconds of delay per request.")
@click.option(
    "--latency-jitter", default=0.0, type=_SECONDS, help="Up to this many more seconds, at random."
)
@click.option("--p-429", default=0.0, type=_PROBABILITY, help="Fraction answered 429.")
@click.option(
    "--retry-after",
    default=1,
    type=click.IntRange(min=0),
    show_default=True,
    help="Retry-After seconds sent with an injected 429.",
)
@click.option("--p-503", default=0.0, type=_PROBABILITY, help="Fraction answered 503.")
@click.option("--p-500", default=0.0, type=_PROBABILITY, help="Fraction answered 500.")
@click.option(
    "--p-close-before",
    default=0.0,
    type=_PROBABILITY,
    help="Fraction whose connection is closed before processing (nothing recorded).",
)
@click.option(
    "--p-close-after",
    default=0.0,
    type=_PROBABILITY,
    help="Fraction processed and then closed without a response (the event exists).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    help="Requests per second admitted; the rest get 429 with Retry-After.",
)
@click.option("--seed", type=int, help="Seed for the faults, to repeat a run.")
@click.option("--quiet", "-q", is_flag=True, help="Print no line per request answered.")
@click.option(
    "--ignore-idempotency-key",
    is_flag=True,
    help="Process every request anew whatever its Idempotency-Key, as the real API may.",
)
def sandbox_command(
    host: str,
    port: int,
    log_path: Path | None,
    latency: float,
    latency_jitter: float,
    p_429: float,
    retry_after: int,
    p_503: float,
    p_500: float,
    p_close_before: float,
    p_close_after: float,
    rate_limit: int | None,
    seed: int | None,
    ignore_idempotency_key: bool,
    quiet: bool,
) -> None:
    """Serve a local LAC sandbox API until Ctrl-C, optionally misbehaving on purpose."""
    try:
        faults = FaultConfig(
            latency_s=latency,
            latency_jitter_s=latency_jitter,
            p_429=p_429,
            retry_after_s=retry_after,
            p_503=p_503,
            p_500=p_500,
            p_close_before=p_close_before,
            p_close_after=p_close_after,
            rate_limit_per_s=rate_limit,
            seed=seed,
        )
    except ValueError as invalid:
        raise click.UsageError(str(invalid)) from None
    try:
        listening = bind_socket(host, port)
    except OSError as refused:
        raise _CannotServe(
            f"cannot listen on {host}:{port}: {refused.strerror}. "
            "Try another --port, or --port 0 for a free one."
        ) from None
    try:
        state = SandboxState.create(
            faults,
            DEFAULT_SANDBOX_KEYS,
            log_path,
            honour_idempotency_key=not ignore_idempotency_key,
        )
    except OSError as unwritable:
        listening.close()
        raise _CannotServe(
            f"cannot write the event log {log_path}: {unwritable.strerror}"
        ) from None
    url = base_url(host, listening.getsockname()[1])
    if not quiet:
        state.on_answer = _answer_line
    run_in_foreground(
        state,
        host,
        listening,
        announce=lambda: _announce(url, faults, log_path, not ignore_idempotency_key),
    )


def _announce(url: str, faults: FaultConfig, log_path: Path | None, honoured: bool) -> None:
    click.echo(f"LAC sandbox serving at {url}")
    click.echo(f"  write key: {SANDBOX_WRITE_KEY}")
    click.echo(f"  read key:  {SANDBOX_READ_KEY} (POST refused with 403)")
    click.echo(f"  company:   {SANDBOX_COMPANY_ID}")
    click.echo(f"  event log: {log_path if log_path is not None else 'memory only'}")
    click.echo(f"  faults:    {_describe(faults)}")
    click.echo(f"  Idempotency-Key: {'honoured' if honoured else 'ignored'}")
    click.echo("Send to it from another terminal with:")
    click.echo(f"  LAC_API_KEY={SANDBOX_WRITE_KEY} lac-batch submit FILE --base-url {url}")
    click.echo("Press Ctrl-C to stop.")


def _answer_line(status: int | None) -> None:
    """One line per POST answered: when, and what the sandbox answered."""
    if status is None:
        what = "connection dropped without an answer"
    else:
        try:
            what = f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            what = str(status)
    click.echo(f"{datetime.now():%H:%M:%S} POST {ENDPOINT_PATH} → {what}")


def _describe(faults: FaultConfig) -> str:
    defaults = FaultConfig()
    changed = [
        f"{field.name}={getattr(faults, field.name)}"
        for field in fields(FaultConfig)
        if getattr(faults, field.name) != getattr(defaults, field.name)
    ]
    return ", ".join(changed) or "none"


if __name__ == "__main__":
    sandbox_command(prog_name="lac-batch sandbox")
