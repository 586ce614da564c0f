"""lac-batch: validate spreadsheets of LAC service-connection requests and submit them safely.

This module names the whole public surface; every other module is an implementation detail
whose path may change. The names that need pandas and pandera (reading, validating, writing
results) are imported on first use, so ``import lac_batch`` and ``lac-batch --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lac_batch.model.errors import (
    HeaderError,
    InputFileError,
    LacBatchError,
    ResultsPathError,
    UsageError,
)
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.status import Status

if TYPE_CHECKING:
    from lac_batch.files.results import write_results
    from lac_batch.model.status import RowResult
    from lac_batch.model.version import __version__
    from lac_batch.rows.validation import (
        RequestSheet,
        RowVerdict,
        ValidationReport,
        read_requests,
        validate,
    )

# Public name → the module that defines it, imported when the name is first used.
_LAZY = {
    # Reading the installed version imports importlib.metadata: a third of this package's import.
    "__version__": "lac_batch.model.version",
    "RowResult": "lac_batch.files.results",
    "write_results": "lac_batch.files.results",
    "RequestSheet": "lac_batch.rows.validation",
    "RowVerdict": "lac_batch.rows.validation",
    "ValidationReport": "lac_batch.rows.validation",
    "read_requests": "lac_batch.rows.validation",
    "validate": "lac_batch.rows.validation",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lac_batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ExitCode",
    "HeaderError",
    "InputFileError",
    "LacBatchError",
    "RequestSheet",
    "ResultsPathError",
    "RowResult",
    "RowVerdict",
    "Status",
    "UsageError",
    "ValidationReport",
    "__version__",
    "read_requests",
    "validate",
    "write_results",
]
