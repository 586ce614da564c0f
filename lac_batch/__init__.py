"""lac-batch: validate spreadsheets of LAC service-connection requests and submit them safely."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from lac_batch.files.results import RowResult, write_results
from lac_batch.model.errors import (
    HeaderError,
    InputFileError,
    LacBatchError,
    ResultsPathError,
    UsageError,
)
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.status import Status
from lac_batch.rows.validation import (
    RequestSheet,
    RowVerdict,
    ValidationReport,
    read_requests,
    validate,
)

try:
    __version__ = version("lac-batch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

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
