"""Tables to verdicts and request bodies: the pandera schema, cell conversion in context,
duplicates, the JSON bodies.

May import: ``files``, ``model``.
"""
