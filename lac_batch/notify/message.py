"""One notification: what happened, rendered for Slack/Teams (mrkdwn), for email (plain text),
and as structured fields.

A message never holds an API key (every known key is scrubbed from the finished message, as a
last line of defence) and never row data beyond the first few error lines of a file.

The webhook document (``webhook_format = "slack"``)::

    {
      "text": "<Slack mrkdwn: headline, then one block per file or problem>",
      "lac_batch": {
        "schema": 1,
        "kind": "attention" | "recovered" | "test",
        "headline": "...", "command": "run" | "submit" | "notify test",
        "host": "...", "time": "2026-11-26T03:15:00+02:00", "exit_code": 1 | null,
        "files": [{"file": "b.csv", "trigger": "on_rows" | "on_invalid" | "on_failed_file",
                   "counts": {"accepted": 30, "rejected": 2}, "results": "/…/b.results.csv",
                   "archived": "/…", "failed": "/…", "error": "why it could not be read",
                   "row_errors": [{"row": 7, "status": "rejected", "error": "…"}],
                   "more_row_errors": 1}],
        "problems": [{"problem": "auth_refused", "state": "started" | "recovered",
                      "since": "...", "summary": "..."}]
      }
    }

``webhook_format = "teams"`` adds ``"type": "message"`` and an Adaptive Card in
``attachments`` with the same lines.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lac_batch.model.status import Status
from lac_batch.model.wording import count_of
from lac_batch.notify.settings import Trigger, WebhookFormat
from lac_batch.notify.state import ProblemKind

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

FIRST_ROW_ERRORS = 5
"""Row errors shown per file; the rest are in the results file."""
_ERROR_CHARS = 300
_SUMMARY_CHARS = 1200
"""A problem's summary is lac-batch's own paragraph; it may name three paths (exit 5)."""
_SCHEMA = 1
_NOT_PROBLEMS = frozenset({Status.ACCEPTED, Status.SKIPPED, Status.VALID})

# Each problem's headline when it starts and when it clears: the one place they are worded.
_TITLES: dict[ProblemKind, tuple[str, str]] = {
    ProblemKind.AUTH_REFUSED: (
        "The API key was refused (exit 3); files stay in the inbox",
        "The API key is accepted again",
    ),
    ProblemKind.LOCK_STUCK: (
        "A run could not start: another run has held the lock too long (exit 4)",
        "Runs get the lock again",
    ),
    ProblemKind.CONFIG: (
        "A run could not start: the configuration cannot be used (exit 2)",
        "The configuration works again",
    ),
    ProblemKind.START_FAILED: ("A run could not start (exit 2)", "Runs start again"),
    ProblemKind.NEW_LEDGER: (
        "A new ledger was created: no earlier runs are known",
        "",  # told once, never recovers
    ),
    ProblemKind.STOPPED: (
        "A run stopped early (exit 2); files stay in the inbox",
        "Rows are sent again",
    ),
    ProblemKind.RESULTS_NOT_WRITTEN: (
        "Rows were sent but their results file could not be written (exit 5)",
        "Results files are written where asked again",
    ),
}


@dataclass(frozen=True)
class RowError:
    row_number: int
    status: str
    error: str


@dataclass(frozen=True)
class FileEvent:
    """A file that needs a look: rows not OK (``on_rows``), invalid rows (``on_invalid``), or
    moved to failed/."""

    trigger: Trigger
    file: str
    counts: Mapping[str, int] = field(default_factory=dict)
    results: str | None = None
    archived: str | None = None
    failed: str | None = None
    error: str | None = None
    row_errors: Sequence[RowError] = ()

    @property
    def more_row_errors(self) -> int:
        if self.trigger is Trigger.INVALID:
            return max(0, self.counts.get(Status.INVALID.value, 0) - len(self.row_errors))
        not_ok = sum(n for status, n in self.counts.items() if status not in _NOT_PROBLEMS)
        return max(0, not_ok - len(self.row_errors))


@dataclass(frozen=True)
class ProblemEvent:
    kind: ProblemKind
    summary: str
    since: str
    recovered: bool = False

    @property
    def title(self) -> str:
        started, cleared = _TITLES[self.kind]
        return f"Recovered: {cleared}" if self.recovered else started


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    """Slack mrkdwn."""
    plain: str
    """The same as plain text, for email."""
    fields: dict[str, Any]

    def webhook_document(self, webhook_format: WebhookFormat) -> dict[str, Any]:
        document: dict[str, Any] = {"text": self.text, "lac_batch": self.fields}
        if webhook_format is WebhookFormat.TEAMS:
            blocks = [
                {"type": "TextBlock", "text": line, "wrap": True}
                for line in self.plain.splitlines()
                if line.strip()
            ]
            blocks[0].update(weight="Bolder", size="Medium")
            document["type"] = "message"
            document["attachments"] = [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": blocks,
                    },
                }
            ]
        return document


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[api key]")
    return text


def _mrkdwn(text: str) -> str:
    """Slack's three escapes, so a server's error text cannot become a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _short(text: str, limit: int = _ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _counts(counts: Mapping[str, int]) -> str:
    ordered = [status.value for status in Status if counts.get(status.value)]
    return ", ".join(f"{status} {counts[status]}" for status in ordered)


class _Lines:
    """Lines written once and rendered twice: Slack mrkdwn and plain text."""

    def __init__(self) -> None:
        self.slack: list[str] = []
        self.plain: list[str] = []

    def add(self, *parts: tuple[str, str]) -> None:
        """Each part is (style, text): style "" plain, "b" bold, "c" code."""
        slack = plain = ""
        for style, text in parts:
            escaped = _mrkdwn(text)
            slack += {"b": f"*{escaped}*", "c": f"`{escaped}`"}.get(style, escaped)
            plain += text
        self.slack.append(slack)
        self.plain.append(plain)


def _file_lines(lines: _Lines, event: FileEvent) -> None:
    if event.trigger is Trigger.FAILED_FILE:
        moved = event.failed or ""
        lines.add(("b", event.file), ("", " could not be read; moved to "), ("c", moved))
        if event.error:
            lines.add(("", f"  {_short(event.error)}"))
        return
    total = sum(event.counts.values())
    lines.add(("b", event.file), ("", f": {count_of(total, 'row')}: {_counts(event.counts)}"))
    for row in event.row_errors:
        lines.add(("", f"  • row {row.row_number}, {row.status}: {_short(row.error)}"))
    if event.more_row_errors:
        lines.add(("", f"  … and {event.more_row_errors} more (see the results file)"))
    invalid = event.counts.get(Status.INVALID.value, 0)
    if invalid:
        lines.add(
            ("", f"  {invalid} invalid rows were not sent: fix them in the results file and "),
            ("", "submit it again (rows it says were accepted are not sent twice)"),
        )
    if event.results:
        lines.add(("", "  Results: "), ("c", event.results))


def _file_fields(event: FileEvent) -> dict[str, Any]:
    fields: dict[str, Any] = {"file": event.file, "trigger": event.trigger.value}
    if event.trigger is Trigger.FAILED_FILE:
        fields.update(failed=event.failed, error=_short(event.error or ""))
        return fields
    fields.update(
        counts=dict(event.counts),
        results=event.results,
        archived=event.archived,
        row_errors=[
            {"row": row.row_number, "status": row.status, "error": _short(row.error)}
            for row in event.row_errors
        ],
        more_row_errors=event.more_row_errors,
    )
    return fields


def _finish(
    headline: str,
    kind: str,
    lines: _Lines,
    fields: dict[str, Any],
    secrets: Sequence[str],
    icon: str,
) -> Message:
    host = socket.gethostname()
    fields = {
        "schema": _SCHEMA,
        "kind": kind,
        "headline": headline,
        "host": host,
        "time": datetime.now().astimezone().isoformat(timespec="seconds"),
        **fields,
    }
    text = "\n".join([f"{icon} *lac-batch on {_mrkdwn(host)}: {_mrkdwn(headline)}*", *lines.slack])
    plain = "\n".join([f"lac-batch on {host}: {headline}", "", *lines.plain])
    # The last line of defence: no code path puts a key in a message, and none may slip through.
    return Message(
        subject=scrub(f"[lac-batch] {host}: {headline}", secrets),
        text=scrub(text, secrets),
        plain=scrub(plain, secrets),
        fields=json.loads(scrub(json.dumps(fields, ensure_ascii=False), secrets)),
    )


def compose(
    *,
    command: str,
    exit_code: int | None,
    files: Sequence[FileEvent],
    problems: Sequence[ProblemEvent],
    secrets: Sequence[str],
) -> Message:
    """The message about one run: its files needing a look, problems started and recovered."""
    started = [problem for problem in problems if not problem.recovered]
    recovered = [problem for problem in problems if problem.recovered]
    attention = bool(files or started)
    items = len(files) + len(problems)
    if items == 1:
        headline = (files[0].file + " needs a look") if files else problems[0].title
    elif attention:
        headline = f"{items} things need attention"
    else:
        headline = f"recovered ({len(recovered)} problems)"
    lines = _Lines()
    for problem in started:
        if items > 1:  # a lone problem's title is the headline already
            lines.add(("b", problem.title))
        lines.add(("", f"  {_short(problem.summary, _SUMMARY_CHARS)}"))
    for event in files:
        _file_lines(lines, event)
    for problem in recovered:
        lines.add(("b", problem.title), ("", f" (problem since {problem.since})"))
    fields = {
        "command": command,
        "exit_code": exit_code,
        "files": [_file_fields(event) for event in files],
        "problems": [
            {
                "problem": problem.kind.value,
                "state": "recovered" if problem.recovered else "started",
                "since": problem.since,
                "summary": _short(problem.summary, _SUMMARY_CHARS),
            }
            for problem in problems
        ],
    }
    kind = "attention" if attention else "recovered"
    icon = ":warning:" if attention else ":white_check_mark:"
    return _finish(headline, kind, lines, fields, secrets, icon)


def compose_test(config_path: str) -> Message:
    """The message ``lac-batch notify test`` sends."""
    lines = _Lines()
    lines.add(("", "Notifications from lac-batch reach this channel. Config: "), ("c", config_path))
    fields: dict[str, Any] = {
        "command": "notify test",
        "exit_code": None,
        "files": [],
        "problems": [],
    }
    return _finish("test message", "test", lines, fields, [], ":bell:")
