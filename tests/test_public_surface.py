"""lac_batch/__init__.py names the public surface; every other module exports nothing."""

from __future__ import annotations

import importlib
import pkgutil

import lac_batch

PUBLIC_MODULES = {"lac_batch", "lac_batch.sandbox"}
"""The package root, and the embedded sandbox the README offers to Python callers."""


def _modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(lac_batch.__path__, "lac_batch.")
        if info.name != "lac_batch.__main__"
    ]
    return sorted(names)


def test_every_module_but_the_public_ones_has_an_empty_all() -> None:
    exporting = {
        name: getattr(importlib.import_module(name), "__all__", None)
        for name in _modules()
        if name not in PUBLIC_MODULES
    }
    assert {name: names for name, names in exporting.items() if names != []} == {}


def test_every_public_name_resolves() -> None:
    for name in lac_batch.__all__:
        assert getattr(lac_batch, name) is not None, name
