"""Process exit codes, documented in the README. When several apply, the lowest rank wins."""

from __future__ import annotations

from enum import IntEnum

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


class ExitCode(IntEnum):
    OK = 0
    """Every row valid (validate) or accepted/skipped (submit)."""
    ROWS_NOT_OK = 1
    """Some rows are invalid, rejected, failed, unknown or not sent."""
    UNUSABLE = 2
    """Usage error, unusable input or ledger, or a wrong base URL (404s): nothing was delivered."""
    AUTH_REFUSED = 3
    """The API key was refused (401/403)."""
    LOCKED = 4
    """Another run holds the ledger lock."""
    RESULTS_NOT_WRITTEN = 5
    """Rows were sent but their record could not be completed: their results file could not be
    written (the ledger has them), or the ledger could not record the run's end (the results
    file has them)."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C or SIGTERM."""


# Order of precedence when several codes apply: first wins.
_PRECEDENCE = (
    ExitCode.INTERRUPTED,
    ExitCode.AUTH_REFUSED,
    ExitCode.RESULTS_NOT_WRITTEN,
    ExitCode.UNUSABLE,
    ExitCode.LOCKED,
    ExitCode.ROWS_NOT_OK,
    ExitCode.OK,
)


def most_severe(*codes: ExitCode) -> ExitCode:
    """The code that wins when several apply (130, 3, 5, 2, 4, 1, 0)."""
    present = set(codes) or {ExitCode.OK}
    return next(code for code in _PRECEDENCE if code in present)
