"""The library's verbs: submit one file (validate, plan, send, record, write results) and
one pass over an inbox, with their run log.

May import: ``ledger``, ``rows``, ``files``, ``settings``, ``sending``, ``model``.
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
