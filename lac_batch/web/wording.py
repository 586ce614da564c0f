"""The page's words for the options the library's messages name (see lac_batch.model.wording)."""

from __future__ import annotations

from lac_batch.jobs.progress import duration_text
from lac_batch.model.wording import Option, count_of
from lac_batch.sending.engine import RetryNotice

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

# A choice the page offers is named as the page shows it; the others are settings of the
# config file the page was started with (or the command line's flags).
_PAGE_WORDS: dict[Option, str] = {
    Option.SHEET: "the Sheet choice above",
    Option.ALLOW_DUPLICATES: "lac-batch submit --allow-duplicates",
    Option.SANDBOX: "lac-batch ui --sandbox",
    Option.REBUILD_RESULTS: "lac-batch report --file {subject} --results PATH",
    Option.LIST_RUNS: "the Recent runs list below",
}


def page_name(option: Option, subject: str = "") -> str:
    """Names an option in a message shown on the page."""
    words = _PAGE_WORDS.get(option)
    if words is None:
        return f"the setting {option.value} of the config file (lac-batch ui --config)"
    return words.format(subject=subject)


def retry_words(notice: RetryNotice) -> str:
    """The page's line for throttling and retries (the latest one; the count says how many)."""
    hint = "" if notice.retry_after is None else f", Retry-After {notice.retry_after:g} s"
    total = count_of(notice.retries, "retry", "retries")
    if notice.http_status == 429:
        return f"The server asked to slow down (429{hint}): sending paused. {total} so far."
    cause = (
        f"The server answered {notice.http_status}{hint}"
        if notice.http_status is not None
        else f"Row {notice.row_number}'s request got no answer"
    )
    return f"{cause}: sent again in {duration_text(notice.wait_s)}. {total} so far."


def stopping_words(in_flight: int, most_wait_s: float) -> str:
    """As the command line says it, with the page's button in place of a second Ctrl-C."""
    if not in_flight:
        return "stopping: no request is in flight; no more will start"
    return (
        f"stopping: waiting for {count_of(in_flight, 'request')} in flight (at most "
        f"{most_wait_s:g} s); “Abandon in flight” gives up on them (their outcome becomes unknown)"
    )


def abandoning_words(in_flight: int) -> str:
    return f"abandoning {count_of(in_flight, 'request')} in flight: their outcome is unknown"
