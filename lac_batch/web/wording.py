"""The page's words for the options the library's messages name (see lac_batch.model.wording)."""

from __future__ import annotations

from lac_batch.model.wording import Option

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
