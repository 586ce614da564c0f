"""The one piece of advice a row that may have been processed carries, said the same way by the
sending engine and the rerun planner, so that a summary can tell a row's reason from it."""

from __future__ import annotations

from lac_batch.model.wording import Option, option_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

NOT_SENT_PREFIX = "not sent: "


def ambiguous_advice() -> str:
    """What to do about a request that may have been processed (one flag, never two)."""
    return (
        "the request may have been processed: look it up in the LAC portal before sending it "
        f"again; if it is not there, rerun with {option_name(Option.RESEND_UNKNOWN)} (resends "
        "with the same Idempotency-Key)"
    )


def reason_of(error: str) -> str:
    """A row's error without the advice a summary gives once per status: why, not what next."""
    reason = error.removeprefix(NOT_SENT_PREFIX)
    advice = f"; {ambiguous_advice()}"
    while advice in reason:  # an earlier run's reason may carry it too
        reason = reason.replace(advice, "")
    return reason
