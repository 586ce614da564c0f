"""What was sent: the SQLite ledger, the recorder that writes it while sending, rerun
planning, the one-run-at-a-time lock, history and rebuilt results.

May import: ``rows``, ``files``, ``settings``, ``sending``, ``model``.
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
