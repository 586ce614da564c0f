"""The error tree: one module holds every lac-batch error, drawn once, each with one scope."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import lac_batch
from lac_batch.model import errors
from lac_batch.model.errors import SCOPES, LacBatchError

PACKAGE = Path(lac_batch.__file__).parent
_TREE_LINE = re.compile(r"^    (?P<indent>[ │├└─]*)(?P<name>[A-Z]\w*)\s{2,}")
_ABSTRACT = frozenset({LacBatchError, *SCOPES})
"""Never raised: the root and the three scopes."""


def _all_modules() -> list[str]:
    names = [lac_batch.__name__]
    for module in pkgutil.walk_packages(lac_batch.__path__, prefix="lac_batch."):
        if not module.name.endswith(".__main__"):  # importing it runs the CLI
            names.append(module.name)
    for name in names:
        importlib.import_module(name)
    return names


def _subclasses(root: type[BaseException]) -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    todo = [root]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found and sub.__module__.startswith("lac_batch"):
                found.add(sub)
                todo.append(sub)
    return found


def _drawn_tree() -> dict[str, str | None]:
    """Class name → the name of its parent as the docstring draws it (None: a root)."""
    drawing = (errors.__doc__ or "").split("\nA problem is classified")[0]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in drawing.splitlines():
        match = _TREE_LINE.match(line)
        if match is None:
            continue
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match["name"]] = stack[-1][1] if stack else None
        stack.append((depth, match["name"]))
    return parents


def test_every_lac_batch_error_is_defined_in_the_error_module() -> None:
    _all_modules()
    elsewhere = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _subclasses(LacBatchError)
        if cls.__module__ != errors.__name__
    )
    assert elsewhere == []


def test_the_drawn_tree_is_the_class_tree() -> None:
    _all_modules()
    actual = {cls.__name__: cls.__base__.__name__ for cls in _subclasses(LacBatchError)}
    actual[LacBatchError.__name__] = None  # type: ignore[assignment]
    actual[errors.Interrupted.__name__] = None  # type: ignore[assignment]
    assert _drawn_tree() == actual


def test_every_error_has_exactly_one_scope() -> None:
    _all_modules()
    for cls in _subclasses(LacBatchError) - _ABSTRACT:
        scopes = [scope.__name__ for scope in SCOPES if issubclass(cls, scope)]
        assert len(scopes) == 1, f"{cls.__name__} has the scopes {scopes}"


def test_only_leaves_of_the_tree_are_raised() -> None:
    """A bare LacBatchError or scope class would say nothing of what the problem is."""
    abstract = {cls.__name__ for cls in _ABSTRACT}
    raised = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", None))
                if name in abstract:
                    raised.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    assert raised == []


def test_other_exception_classes_are_named_in_the_module_docstring() -> None:
    """Exceptions outside the tree never leave their module; the docstring names each."""
    doc = errors.__doc__ or ""
    outside = set()
    for name in _all_modules():
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if (
                issubclass(cls, BaseException)
                and cls.__module__ == name
                and cls.__module__ != errors.__name__
            ):
                outside.add(cls.__name__)
    assert outside, "the walk found no module"
    assert sorted(name for name in outside if f"``{name}``" not in doc) == []


@pytest.mark.parametrize(
    ("error", "scope"),
    [
        (errors.HeaderError("a.csv", "has no column 'event_id'"), errors.FileProblem),
        (errors.LedgerError("ledger.sqlite3: read-only"), errors.RunProblem),
        (errors.ConfigError("lac-batch.toml: line 3: unknown key"), errors.UsageProblem),
    ],
)
def test_a_scope_is_caught_by_its_type(error: LacBatchError, scope: type[Exception]) -> None:
    with pytest.raises(scope):
        raise error
