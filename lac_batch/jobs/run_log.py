"""Log lines for unattended runs: timestamped text or JSON lines, optionally to a rotating file.

Console output is what a scheduler mails or shows, so "nothing happened" lines (an empty inbox,
another run still busy) are marked ``quiet``: they go to the log file only. The API key is
scrubbed from every line as a last line of defence; no code path is meant to log it anyway.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

from lac_batch.settings.config import LogFormat

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

LOGGER_NAME = "lac_batch.run"
_ROTATE_BYTES = 10 * 1024 * 1024
_ROTATE_KEEP = 5


class _QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "quiet", False)


class _ScrubFilter(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        for secret in self._secrets:
            if secret in record.getMessage():
                record.msg = record.getMessage().replace(secret, "[api key]")
                record.args = None
            fields = getattr(record, "fields", None)
            if fields and secret in json.dumps(fields, default=str):
                record.fields = json.loads(
                    json.dumps(fields, default=str).replace(secret, "[api key]")
                )
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{_timestamp(record)} {record.levelname} {record.getMessage()}"


class _JsonFormatter(logging.Formatter):
    """One JSON object per line; the field names are stable: time, level, event, message, …"""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", "message"),
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}) or {})
        return json.dumps(line, ensure_ascii=False, default=str)


class RunLog:
    """What a scheduled run says: ``info``/``warning``/``error`` with an event name and fields."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _log(self, level: int, event: str, message: str, quiet: bool, **fields: Any) -> None:
        self._logger.log(level, message, extra={"event": event, "fields": fields, "quiet": quiet})

    def info(self, event: str, message: str, *, quiet: bool = False, **fields: Any) -> None:
        self._log(logging.INFO, event, message, quiet, **fields)

    def warning(self, event: str, message: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, message, False, **fields)

    def error(self, event: str, message: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, message, False, **fields)

    def close(self) -> None:
        for handler in list(self._logger.handlers):
            handler.close()
            self._logger.removeHandler(handler)


def setup_run_log(
    log_format: LogFormat,
    log_file: Path | None = None,
    *,
    secrets: Sequence[str] = (),
    console: TextIO | None = None,
) -> RunLog:
    """A fresh logger writing to the console (not quiet lines) and, if given, a rotating file."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
    formatter: logging.Formatter = (
        _JsonFormatter() if log_format is LogFormat.JSON else _TextFormatter()
    )
    scrub = _ScrubFilter(secrets)
    console_handler = logging.StreamHandler(console or sys.stderr)
    console_handler.addFilter(_QuietFilter())
    handlers: list[logging.Handler] = [console_handler]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            RotatingFileHandler(
                log_file, maxBytes=_ROTATE_BYTES, backupCount=_ROTATE_KEEP, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(scrub)
        logger.addHandler(handler)
    return RunLog(logger)
