"""Exceptions that lac-batch raises on purpose, each mapped to an exit code.

    LacBatchError                 any failure meant for a person to read (exit 2 unless said)
     ├── InputFileError           the input file cannot be used at all; names the file
     │    └── HeaderError         missing or duplicated columns; lists the headers found
     ├── ResultsPathError         the results destination cannot be written
     └── UsageError               flags or settings that do not fit together

Messages are one paragraph, name the file (and row and column where there is one), and say what
would fix the problem. They never contain an API key.
"""

from __future__ import annotations

from pathlib import Path

from lac_batch.exit_codes import ExitCode

__all__ = ["HeaderError", "InputFileError", "LacBatchError", "ResultsPathError", "UsageError"]


class LacBatchError(Exception):
    """A failure with a message meant for the person running the tool."""

    exit_code: ExitCode = ExitCode.UNUSABLE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputFileError(LacBatchError):
    """The input file cannot be read as a request spreadsheet."""

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
