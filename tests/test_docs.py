"""The README and the pages of docs/ document every command, option, status and exit code, and
every link from the README to docs/ (or within it) leads somewhere; CI runs these tests."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from conftest import REPO

from lac_batch.cli.main import main
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.status import Status

README = (REPO / "README.md").read_text(encoding="utf-8")
DOC_PAGES = sorted((REPO / "docs").glob("*.md"))
DOCS = "\n".join([README, *(page.read_text(encoding="utf-8") for page in DOC_PAGES)])


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, prefix + name + " "))
    return found


@pytest.mark.parametrize(("name", "command"), _commands(main))
def test_every_command_and_option_is_in_the_docs(name: str, command: click.Command) -> None:
    assert f"lac-batch {name}" in README
    for parameter in command.params:
        if isinstance(parameter, click.Option):
            assert any(option in DOCS for option in parameter.opts), (name, parameter.opts)


def test_every_status_is_in_the_readme() -> None:
    for status in Status:
        assert f"| `{status.value}` |" in README


def test_every_exit_code_the_readme_promises_exists() -> None:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}


def test_the_exit_codes_page_says_what_to_do_after_every_code() -> None:
    page = (REPO / "docs" / "exit-codes.md").read_text(encoding="utf-8")
    section = page.split("## What to do after each code", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}


def test_install_shows_the_two_commands_and_ci_runs_the_test_one() -> None:
    install = README.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    first_block = install.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_the_readme_starts_with_three_quick_starts() -> None:
    headings = re.findall(r"^## (.+)$", README, re.MULTILINE)
    assert headings[:4] == [
        "Quick start: learn safely",
        "Quick start: the first real submit",
        "Quick start: on a schedule",
        "Install",
    ]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", path.read_text(encoding="utf-8"))
    return {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def _links(path: Path) -> list[tuple[str, str]]:
    """(target file, anchor) of every relative Markdown link of ``path``, code blocks aside."""
    text = re.sub(r"(?ms)^```.*?^```", "", path.read_text(encoding="utf-8"))
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        found.append((file, anchor))
    return found


@pytest.mark.parametrize("page", [REPO / "README.md", *DOC_PAGES], ids=lambda path: path.name)
def test_every_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    links = _links(page)
    assert links
    for file, anchor in links:
        target = (page.parent / file).resolve() if file else page
        assert target.exists(), (page.name, file)
        if anchor:
            assert target.suffix == ".md", (page.name, file, anchor)
            assert anchor in _anchors(target), (page.name, file, anchor)


def test_every_page_of_docs_is_linked_from_the_readme() -> None:
    linked = {(REPO / file).resolve() for file, _ in _links(REPO / "README.md") if file}
    assert set(DOC_PAGES) <= linked, set(DOC_PAGES) - linked
