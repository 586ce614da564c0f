"""Exceptions that lac-batch raises on purpose, each mapped to an exit code and a scope.

    LacBatchError                 any failure meant for a person to read (exit 2 unless said)
     ├── InputFileError           FILE: the input file cannot be used at all; names the file
     │    └── HeaderError         FILE: missing or duplicated columns; lists the headers found
     ├── ResultsPathError         RUN: the results destination cannot be written
     └── UsageError               COMMAND: flags or settings that do not fit together
    (elsewhere: LedgerError, RunLockedError, DeliveryError: RUN; ConfigError: COMMAND)

    Interrupted                   Ctrl-C or SIGTERM (exit 130); a BaseException, like
                                  KeyboardInterrupt, so no ``except Exception`` swallows it

A problem is classified by what it is, never by where it was raised: its :class:`Scope` says how
far it reaches. An inbox pass moves a file with a FILE problem to ``failed/`` and goes on with
the next file; any other problem ends the pass and leaves the files in the inbox.

Messages are one paragraph, name the file (and row and column where there is one), and say what
would fix the problem. They never contain an API key.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from lac_batch.model.exit_codes import ExitCode

__all__ = [
    "HeaderError",
    "InputFileError",
    "Interrupted",
    "LacBatchError",
    "ResultsPathError",
    "Scope",
    "UsageError",
]


class Scope(StrEnum):
    """How far a problem reaches."""

    FILE = "file"
    """This input file cannot be used; the next file may well be fine."""
    RUN = "run"
    """This run cannot go on (the ledger, the lock, the results folder); a later run may."""
    COMMAND = "command"
    """The command or its settings are wrong: nothing can run until a person fixes them."""


class LacBatchError(Exception):
    """A failure with a message meant for the person running the tool."""

    exit_code: ExitCode = ExitCode.UNUSABLE
    scope: ClassVar[Scope] = Scope.RUN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputFileError(LacBatchError):
    """The input file cannot be read as a request spreadsheet."""

    scope = Scope.FILE

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


class HeaderError(InputFileError):
    """The header row is missing required columns or repeats one."""


class ResultsPathError(LacBatchError):
    """The results file cannot be written where asked."""


class UsageError(LacBatchError):
    """Options that cannot work together, or a setting with a wrong value."""

    scope = Scope.COMMAND


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM arrived before anything was sent (see :mod:`lac_batch.model.stopping`)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self) -> None:
        super().__init__(
            "Ctrl-C or SIGTERM before sending began: nothing was sent and no results file was "
            "written; run the same command again to send the file."
        )
