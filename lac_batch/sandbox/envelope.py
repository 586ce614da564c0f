"""The error envelope ``{"error": code, "detail": text}`` and the status of each code."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from starlette.responses import JSONResponse

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


class ErrorCode(StrEnum):
    """Machine-readable ``error`` values; clients may rely on them not changing."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    VALIDATION_FAILED = "validation_failed"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"

    @property
    def status_code(self) -> int:
        return _STATUS_CODES[self]


_STATUS_CODES: Mapping[ErrorCode, int] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.IDEMPOTENCY_KEY_IN_USE: 409,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}


def error_payload(code: ErrorCode, detail: str) -> dict[str, str]:
    return {"error": code.value, "detail": detail}


def error_response(
    code: ErrorCode, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_payload(code, detail), code.status_code, headers=headers)
