"""Tables to verdicts and request bodies: the pandera schema, cell conversion in context,
duplicates, the JSON bodies.

May import: ``files``, ``model``.
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
