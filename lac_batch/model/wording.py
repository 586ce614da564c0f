"""How the library's sentences name the choices a user can make, without a front end's words.

A message that tells the user what to do next names a choice ("rerun with --resend-unknown"):
that is a flag on the command line, a field on a web page, a keyword argument for a Python
caller. The library says :class:`Option` and :func:`option_name` renders it with the namer of
the caller's context: the choice's Python name by default (``resend_unknown=True``), the flag
when ``cli/`` runs a command (it installs its namer with :func:`naming` around each command).

A context variable, not a parameter: messages are made deep inside readers, the ledger and the
sending engine, and embedded in one another, so threading a renderer through every call would
touch every signature; a web server sets its namer per request as the CLI does per command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


class Option(StrEnum):
    """A choice a message may tell the user to make; the value is its Python name."""

    FORCE = "force"
    RESEND_UNKNOWN = "resend_unknown"
    RETRY_AMBIGUOUS = "retry_ambiguous"
    REQUIRE_ALL_VALID = "require_all_valid"
    ALLOW_DUPLICATES = "allow_duplicates"
    STRICT = "strict"
    RESULTS = "results"
    LEDGER = "ledger"
    SHEET = "sheet"
    ENCODING = "encoding"
    DELIMITER = "delimiter"
    MAX_WAIT = "max_wait"
    BASE_URL = "base_url"
    API_KEY_FILE = "api_key_file"
    KEYS_FILE = "keys_file"
    SANDBOX = "sandbox"
    METADATA = "metadata"
    NOTIFY_WEBHOOK = "notify_webhook"
    NOTIFY_EMAIL = "notify_email"
    REBUILD_RESULTS = "rebuild_results"
    """Write a results file again from the ledger; its subject is the input file."""
    LIST_RUNS = "list_runs"
    """List the runs a ledger holds."""
    MAP = "column_map"
    """Map a file's header to a known column (``SOURCE=TARGET``)."""
    PROFILE = "profile"
    HEADER_ROW = "header_row"
    REMAP = "remap"
    """Read a file again under another mapping, its rows treated as new requests."""


_SWITCHES = frozenset(
    {
        Option.FORCE,
        Option.RESEND_UNKNOWN,
        Option.RETRY_AMBIGUOUS,
        Option.REQUIRE_ALL_VALID,
        Option.ALLOW_DUPLICATES,
        Option.STRICT,
        Option.SANDBOX,
        Option.REMAP,
    }
)
"""Choices that are on or off: a Python caller turns them on with ``=True``."""

Namer = Callable[[Option, str], str]
"""Names an option; the second argument is its subject (the file it applies to), or ""."""

_PYTHON_CALLS = {
    Option.REBUILD_RESULTS: "lac_batch.ledger.history.rebuild_results() for {subject}",
    Option.LIST_RUNS: "Ledger.runs()",
}


def python_name(option: Option, subject: str = "") -> str:
    """The default namer: what a Python caller writes (``resend_unknown=True``, ``max_wait``)."""
    if option in _PYTHON_CALLS:
        return _PYTHON_CALLS[option].format(subject=subject)
    return f"{option.value}=True" if option in _SWITCHES else option.value


_namer: ContextVar[Namer] = ContextVar("lac_batch_namer", default=python_name)


def option_name(option: Option, subject: str = "") -> str:
    """``option`` as the front end running this code names it."""
    return _namer.get()(option, subject)


@contextmanager
def naming(namer: Namer) -> Iterator[None]:
    """Name options with ``namer`` in every message made inside the block."""
    token = _namer.set(namer)
    try:
        yield
    finally:
        _namer.reset(token)


def count_of(number: int, noun: str, plural: str = "") -> str:
    """``1 row``, ``2,494 rows``: a count with its noun, singular for one (``plural``: when the
    plural is not the noun + s)."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"
