"""The page's words for the options the library's messages name (see lac_batch.model.wording)."""

from __future__ import annotations

from lac_batch.jobs.progress import duration_text
from lac_batch.model.wording import Option, count_of
from lac_batch.sending.engine import RetryNotice

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_RESEND = "the button “Not processed: resend with the same key” under Unknowns to check"
_CONFIG = "the setting {key} of the config file the page was started with (lac-batch ui --config)"

# Every option a library message may name, as the page's user acts on it: a control of the page
# where the page has one, else a setting of the config file the page runs with, else the
# command that offers it (the page does not). tests/test_web_wording.py checks each is here.
PAGE_WORDS: dict[Option, str] = {
    Option.FORCE: "lac-batch submit --force (the page never sends a request twice)",
    Option.RESEND_UNKNOWN: _RESEND,
    Option.RETRY_AMBIGUOUS: _CONFIG.format(key="retry_ambiguous"),
    Option.REQUIRE_ALL_VALID: "lac-batch submit --require-all-valid",
    Option.ALLOW_DUPLICATES: "lac-batch submit --allow-duplicates",
    Option.STRICT: "lac-batch submit --strict",
    Option.RESULTS: "lac-batch submit --results",
    Option.LEDGER: _CONFIG.format(key="ledger"),
    Option.SHEET: "the Sheet choice above",
    Option.ENCODING: "lac-batch submit --encoding (save the file as UTF-8 to open it here)",
    Option.DELIMITER: "lac-batch submit --delimiter (save the file with commas to open it here)",
    Option.MAX_WAIT: _CONFIG.format(key="max_wait"),
    Option.BASE_URL: _CONFIG.format(key="base_url"),
    Option.API_KEY_FILE: _CONFIG.format(key="api_key.file"),
    Option.KEYS_FILE: _CONFIG.format(key="keys_file"),
    Option.SANDBOX: "lac-batch ui --sandbox",
    Option.METADATA: "lac-batch template --metadata",
    Option.NOTIFY_WEBHOOK: "lac-batch submit --notify-webhook",
    Option.NOTIFY_EMAIL: "lac-batch submit --notify-email",
    Option.REBUILD_RESULTS: "lac-batch report --file {subject} --results PATH",
    Option.LIST_RUNS: "the Recent runs list below",
    Option.MAP: "the Columns panel (map the header there)",
    Option.PROFILE: "a profile saved from the Columns panel",
    Option.HEADER_ROW: "lac-batch submit --header-row",
    Option.REMAP: "lac-batch submit --remap",
}


def page_name(option: Option, subject: str = "") -> str:
    """Names an option in a message shown on the page (the namer the page installs)."""
    return PAGE_WORDS[option].format(subject=subject)


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
