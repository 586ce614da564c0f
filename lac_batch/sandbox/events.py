"""The events the sandbox accepted: kept in memory and, optionally, as JSON lines in a file.

One line per event with exactly the fields of :class:`SandboxEvent`. Neither the Authorization
header nor the API key is ever recorded: an event names the company the key belongs to.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@dataclass(frozen=True)
class SandboxEvent:
    """One accepted service-connection request."""

    time: str
    """When it was accepted: ISO 8601 in UTC with microseconds."""
    event_id: str
    body: dict[str, Any]
    """The request body as the client sent it."""
    idempotency_key: str | None
    company_id: str

    def to_json_line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> SandboxEvent:
        return cls(
            time=fields["time"],
            event_id=fields["event_id"],
            body=fields["body"],
            idempotency_key=fields["idempotency_key"],
            company_id=fields["company_id"],
        )


class EventLog:
    """Accepted events in order; appended from the server thread, readable from any thread."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._events: list[SandboxEvent] = []
        self._lock = threading.Lock()
        # Appending keeps events of earlier runs that used the same file.
        self._file: TextIO | None = (
            None if path is None else path.open("a", encoding="utf-8", newline="\n")
        )

    def record(self, event: SandboxEvent) -> None:
        with self._lock:
            self._events.append(event)
            if self._file is not None:
                # One write and a flush per event, so a reader or a crash never sees half of one.
                self._file.write(event.to_json_line())
                self._file.flush()

    def events(self) -> list[SandboxEvent]:
        with self._lock:
            return list(self._events)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_event_log(path: Path | str) -> list[SandboxEvent]:
    """The events in a log file written by a sandbox, oldest first.

    A last line without its newline is an event still being written and is left out.
    """
    text = Path(path).read_text(encoding="utf-8")
    complete_lines = text.split("\n")[:-1]
    return [SandboxEvent.from_json(json.loads(line)) for line in complete_lines if line]
