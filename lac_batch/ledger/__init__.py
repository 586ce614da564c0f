"""What was sent: the ledger (a SQLite file, or a shared PostgreSQL database: ``backend``), the
recorder that writes it while sending, rerun planning, the run locks, history, rebuilt results
and copying a ledger elsewhere.

May import: ``rows``, ``files``, ``settings``, ``sending``, ``model``.
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
