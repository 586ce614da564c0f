"""Requests to the LAC API: the HTTP client and its outcome tables, pacing, the retry policy,
the sending engine, API keys and base URLs, fingerprints.

May import: ``model``. It knows no ledger, no rows and no files: it is given jobs, a gate and
observers.
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
