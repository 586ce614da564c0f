"""The command line's words for the options the library's messages name: its flags."""

from __future__ import annotations

from lac_batch.model.wording import Option

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

FLAGS: dict[Option, str] = {
    Option.FORCE: "--force",
    Option.RESEND_UNKNOWN: "--resend-unknown",
    Option.RETRY_AMBIGUOUS: "--retry-ambiguous",
    Option.REQUIRE_ALL_VALID: "--require-all-valid",
    Option.ALLOW_DUPLICATES: "--allow-duplicates",
    Option.STRICT: "--strict",
    Option.RESULTS: "--results",
    Option.LEDGER: "--ledger",
    Option.SHEET: "--sheet",
    Option.ENCODING: "--encoding",
    Option.DELIMITER: "--delimiter",
    Option.MAX_WAIT: "--max-wait",
    Option.BASE_URL: "--base-url",
    Option.API_KEY_FILE: "--api-key-file",
    Option.KEYS_FILE: "--keys-file",
    Option.SANDBOX: "--sandbox",
    Option.METADATA: "--metadata",
    Option.NOTIFY_WEBHOOK: "--notify-webhook",
    Option.NOTIFY_EMAIL: "--notify-email",
    Option.REBUILD_RESULTS: "lac-batch report --file {subject} --results PATH",
    Option.LIST_RUNS: "lac-batch report --runs",
    Option.MAP: "--map",
    Option.PROFILE: "--profile",
    Option.HEADER_ROW: "--header-row",
    Option.REMAP: "--remap",
}


def flag_name(option: Option, subject: str = "") -> str:
    """The namer every command installs (``lac_batch.model.wording.naming``)."""
    return FLAGS[option].format(subject=subject)


# `run` has no --results flag: its results go to the configured folder.
_INBOX_WORDS: dict[Option, str] = {Option.RESULTS: "results folder (folders.results in the config)"}


def inbox_name(option: Option, subject: str = "") -> str:
    """The namer of ``lac-batch run``: its flags, but the results folder for the results path."""
    words = _INBOX_WORDS.get(option)
    return flag_name(option, subject) if words is None else words.format(subject=subject)
