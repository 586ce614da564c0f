"""The vocabulary every stage shares: statuses and row results, issues, the error tree, exit
codes, column meanings and cell types, the process stop flag.

May import: nothing else of lac_batch (the import contract in pyproject.toml checks it).
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
