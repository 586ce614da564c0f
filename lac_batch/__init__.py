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
    Interrupted,
    LacBatchError,
    ResultsPathError,
    UsageError,
)
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.status import Status
from lac_batch.model.stopping import StopHandle

if TYPE_CHECKING:
    from lac_batch.files.results import write_results
    from lac_batch.jobs.retry import RetryOutcome, retry_failed
    from lac_batch.jobs.submit import (
        SubmitOptions,
        SubmitOutcome,
        SubmitProgress,
        submit_file,
        submit_file_async,
    )
    from lac_batch.ledger.queries import request_history, resolve, unknowns
    from lac_batch.model.mapping import (
        ColumnMapping,
        ColumnSetup,
        HeaderReading,
        HeaderRule,
        MapEntry,
        Profile,
        parse_map_text,
    )
    from lac_batch.model.status import RowResult
    from lac_batch.model.version import __version__
    from lac_batch.rows.validation import (
        HeaderReport,
        RequestSheet,
        RowVerdict,
        ValidationReport,
        read_headers,
        read_requests,
        validate,
    )
    from lac_batch.sending.credentials import ApiKey
    from lac_batch.sending.engine import SubmitSettings
    from lac_batch.settings.columns import column_setup
    from lac_batch.settings.config import Settings

# Public name → the module that defines it, imported when the name is first used.
_LAZY = {
    # Reading the installed version imports importlib.metadata: a third of this package's import.
    "__version__": "lac_batch.model.version",
    "RowResult": "lac_batch.model.status",
    "write_results": "lac_batch.files.results",
    "RequestSheet": "lac_batch.rows.validation",
    "RowVerdict": "lac_batch.rows.validation",
    "ValidationReport": "lac_batch.rows.validation",
    "read_requests": "lac_batch.rows.validation",
    "validate": "lac_batch.rows.validation",
    "ApiKey": "lac_batch.sending.credentials",
    "SubmitSettings": "lac_batch.sending.engine",
    "Settings": "lac_batch.settings.config",
    "SubmitOptions": "lac_batch.jobs.submit",
    "SubmitOutcome": "lac_batch.jobs.submit",
    "SubmitProgress": "lac_batch.jobs.submit",
    "submit_file": "lac_batch.jobs.submit",
    "submit_file_async": "lac_batch.jobs.submit",
    "retry_failed": "lac_batch.jobs.retry",
    "RetryOutcome": "lac_batch.jobs.retry",
    "unknowns": "lac_batch.ledger.queries",
    "resolve": "lac_batch.ledger.queries",
    "request_history": "lac_batch.ledger.queries",
    "ColumnMapping": "lac_batch.model.mapping",
    "ColumnSetup": "lac_batch.model.mapping",
    "HeaderReading": "lac_batch.model.mapping",
    "HeaderRule": "lac_batch.model.mapping",
    "MapEntry": "lac_batch.model.mapping",
    "Profile": "lac_batch.model.mapping",
    "parse_map_text": "lac_batch.model.mapping",
    "HeaderReport": "lac_batch.rows.validation",
    "read_headers": "lac_batch.rows.validation",
    "column_setup": "lac_batch.settings.columns",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lac_batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ApiKey",
    "ColumnMapping",
    "ColumnSetup",
    "ExitCode",
    "HeaderError",
    "HeaderReading",
    "HeaderReport",
    "HeaderRule",
    "InputFileError",
    "Interrupted",
    "LacBatchError",
    "MapEntry",
    "Profile",
    "RequestSheet",
    "ResultsPathError",
    "RetryOutcome",
    "RowResult",
    "RowVerdict",
    "Settings",
    "Status",
    "StopHandle",
    "SubmitOptions",
    "SubmitOutcome",
    "SubmitProgress",
    "SubmitSettings",
    "UsageError",
    "ValidationReport",
    "__version__",
    "column_setup",
    "parse_map_text",
    "read_headers",
    "read_requests",
    "request_history",
    "resolve",
    "retry_failed",
    "submit_file",
    "submit_file_async",
    "unknowns",
    "validate",
    "write_results",
]
