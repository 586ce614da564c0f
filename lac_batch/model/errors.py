"""Every exception lac-batch raises on purpose: the whole tree, each with its exit code and scope.

    LacBatchError                 any failure meant for a person to read (exit 2 unless said)
     ├── FileProblem              scope FILE: this input file cannot be used
     │    ├── InputFileError      the file cannot be read as requests; names the file
     │    │    └── HeaderError    missing or duplicated columns; lists the headers found
     │    └── NotInLedgerError    the ledger has no finished run of this file as it is now
     ├── RunProblem               scope RUN: this run cannot go on; a later one may
     │    ├── ResultsPathError    the results destination cannot be written
     │    ├── LedgerError         the ledger cannot be used (not a database, read-only, newer)
     │    ├── RunLockedError      another run holds the ledger's lock (exit 4)
     │    └── DeliveryError       a notification was not delivered (a warning, never fatal)
     └── UsageProblem             scope COMMAND: nothing can run until a person fixes it
          └── UsageError          flags or settings that do not fit together
               └── ConfigError    the config or keys file cannot be used; names file and line

    Interrupted                   Ctrl-C or SIGTERM (exit 130); a BaseException, like
                                  KeyboardInterrupt, so no ``except Exception`` swallows it

A problem is classified by what it is, never by where it was raised: its scope is its type, one
of the three classes under :class:`LacBatchError`, and every error raised is a leaf below exactly
one of them. An inbox pass does ``except FileProblem`` to move the file to ``failed/`` and go on
with the next file; any other problem ends the pass and leaves the files in the inbox.

Lower-level errors are translated once per source, at its boundary, into one of these with
``raise ... from error``: HTTP in :mod:`lac_batch.sending.api`, SQLite in
:mod:`lac_batch.ledger.store`, TOML settings files in :func:`lac_batch.settings.config.read_toml`,
workbooks in :mod:`lac_batch.files.excel_reader` (python-calamine, panics included) and
:mod:`lac_batch.files.workbook_xml` (the workbook's own XML), CSV text in
:mod:`lac_batch.files.csv_reader`.

Not in the tree, because they never leave the code that raises them: ``CellValueError``
(:mod:`lac_batch.model.cells`: a cell's reason, kept as the cell's value and reported as a row
issue), the readers' private ``_PackageError`` and the writer's ``_SheetTooLarge`` (translated
where they are caught), the sandbox's ``InvalidBody`` (a 422 answer of the stand-in API), the
CLI's click signals ``_InterruptedEarly`` and ``_CannotServe``, and the web page's ``_TooLarge``
(an upload past its limit, answered on the page).

Messages are one paragraph, name the file (and row and column where there is one), and say what
would fix the problem. They never contain an API key.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.wording import Option, option_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


class LacBatchError(Exception):
    """A failure with a message meant for the person running the tool.

    Raise a leaf of the tree, never this class or a scope class itself.
    """

    exit_code: ExitCode = ExitCode.UNUSABLE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- the three scopes: what a problem stops ------------------------------------------------------


class FileProblem(LacBatchError):
    """This input file cannot be used; the next file may well be fine."""


class RunProblem(LacBatchError):
    """Something outside the input and the settings fails now (the ledger, the lock, the results
    folder, a notification target): this run cannot go on with it; a later run may."""


class UsageProblem(LacBatchError):
    """The command or its settings are wrong: nothing can run until a person fixes them."""


SCOPES: tuple[type[LacBatchError], ...] = (FileProblem, RunProblem, UsageProblem)
"""The scope classes; every error raised is below exactly one of them."""


# --- FILE ----------------------------------------------------------------------------------------


class InputFileError(FileProblem):
    """The input file cannot be read as a request spreadsheet."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


class HeaderError(InputFileError):
    """The header row is missing required columns or repeats one."""


class NotInLedgerError(FileProblem):
    """The ledger has no finished run of this file, or the file changed since its run."""


# --- RUN -----------------------------------------------------------------------------------------


class ResultsPathError(RunProblem):
    """The results file cannot be written where asked."""


class LedgerError(RunProblem):
    """The ledger file cannot be used (not a database, read-only, newer schema); exit 2."""


class LockHolderInfo(Protocol):
    """Who holds a ledger's lock, as far as its note tells (see :mod:`lac_batch.ledger.lock`)."""

    @property
    def pid(self) -> int | None: ...

    @property
    def started_at(self) -> datetime | None: ...

    def describe(self) -> str: ...


class RunLockedError(RunProblem):
    """Another run holds the ledger's lock; exit 4."""

    exit_code = ExitCode.LOCKED

    def __init__(self, ledger_path: Path | str, holder: LockHolderInfo) -> None:
        super().__init__(
            f"another run is in progress ({holder.describe()}) on the ledger {ledger_path}; "
            f"nothing was sent. Wait for it to finish, or use another {option_name(Option.LEDGER)}."
        )
        self.holder = holder


class DeliveryError(RunProblem):
    """A notification could not be delivered; logged as a warning, never fatal."""


# --- COMMAND -------------------------------------------------------------------------------------


class UsageError(UsageProblem):
    """Options that cannot work together, or a setting with a wrong value."""


class ConfigError(UsageError):
    """The config file cannot be used; the message names the file, line and key."""


# --- not an error: a stop ------------------------------------------------------------------------


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM arrived before anything was sent (see :mod:`lac_batch.model.stopping`)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self) -> None:
        super().__init__(
            "Ctrl-C or SIGTERM before sending began: nothing was sent and no results file was "
            "written; run the same command again to send the file."
        )
