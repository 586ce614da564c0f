"""The ``lac-batch`` command: the only package that imports click or prints to a terminal.

May import: anything. Nothing imports it.
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
