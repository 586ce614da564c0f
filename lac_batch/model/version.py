"""The installed version of lac-batch, for the User-Agent and ``--version``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

try:
    __version__ = version("lac-batch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
