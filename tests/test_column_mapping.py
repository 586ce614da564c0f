"""Sheets as people send them: column mapping, profiles, near misses, headers below titles."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import openpyxl
import pytest
from conftest import csv_text, read_results_csv, run_cli, sandbox_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from lac_batch.ledger.store import MIGRATIONS, SCHEMA_VERSION, Ledger
from lac_batch.model.mapping import NEAR_MISS_SCORE, near_miss
from lac_batch.rows.validation import read_requests, validate
from lac_batch.sandbox import Sandbox
from lac_batch.settings.columns import column_setup

FINNISH_PROFILE = """
[profiles.finnish]
[profiles.finnish.columns]
Yhteys = "connection_key"
"Pyyntö" = "request_type"
Huomautus = "note"
Asiakas = "customer_id"
"""
FINNISH_HEADER = ["Yhteys", "Pyyntö", "Huomautus", "Asiakas"]


def _workbook(path: Path, rows: list[list[str]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _inbox(tmp_path: Path, extra: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config for `run` (its ledger named there) and an empty inbox; the config's path."""
    monkeypatch.delenv("LAC_LEDGER", raising=False)
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        'rate = 300\nsettle_seconds = 0\nledger = "state/ledger.sqlite3"\n' + extra,
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()
    Ledger.open(tmp_path / "state" / "ledger.sqlite3").close()
    return config


def _settled(path: Path) -> None:
    old = time.time() - 60
    os.utime(path, (old, old))


def test_finnish_export_below_a_title_is_read_by_a_profile_in_run(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _inbox(tmp_path, FINNISH_PROFILE, monkeypatch)
    source = _workbook(
        tmp_path / "inbox" / "asiakas.xlsx",
        [
            ["Palvelupyynnöt, maaliskuu"],
            [],
            FINNISH_HEADER,
            ["bank:op", "setup", "OP:n tili", "sandbox-company"],
            ["bank:nordea", "setup", "", "sandbox-company"],
        ],
    )
    _settled(source)

    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))

    assert outcome.exit_code == 0, outcome.output
    bodies = sorted((event.body for event in sandbox.events()), key=str)
    assert {
        "connection_key": "bank:op",
        "request_type": "setup",
        "note": "OP:n tili",
        "customer_id": "sandbox-company",
    } in bodies
    assert len(bodies) == 2
    results = next((tmp_path / "results").glob("asiakas*.xlsx"))
    # The results sheet keeps the input's sheet name (openpyxl's default "Sheet").
    sheet = openpyxl.load_workbook(results)["Sheet"]
    # The title stays above; the header keeps its row (3), with the input's own names.
    assert sheet["A1"].value == "Palvelupyynnöt, maaliskuu"
    assert [cell.value for cell in sheet[3]][-4:] == FINNISH_HEADER
    assert [cell.value for cell in sheet[4]][:2] == [4, "accepted"]


def test_title_and_blank_row_above_the_header_of_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Requests for March\n\n"
        + csv_text([["connection_key", "request_type"], ["bank:op", "setup"]], ";"),
        encoding="utf-8",
    )
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 0, outcome.output
    lines = (tmp_path / "export.results.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "Requests for March"
    assert lines[1] == ""
    assert lines[2].startswith("row;status;")
    assert lines[3].startswith("4;valid;")
    # The results file fed back reads the same header row and the same row numbers.
    again = run_cli("validate", tmp_path / "export.results.csv")
    assert again.exit_code == 0, again.output


def test_header_row_forced(tmp_path: Path) -> None:
    path = tmp_path / "forced.csv"
    path.write_text(
        csv_text(
            [
                ["connection_key", "request_type"],
                ["a", "b"],
                ["connection_key", "request_type"],
                ["bank:op", "setup"],
            ]
        ),
        encoding="utf-8",
    )
    outcome = run_cli("validate", path, "--header-row", "3")
    assert outcome.exit_code == 0, outcome.output
    assert "1 row: valid 1" in outcome.stdout


NEAR_MISS_ROWS = [
    ["connection_key", "request_type", "Notes", "custmer_id"],
    ["bank:op", "setup", "please hurry", "sandbox-company"],
]


def test_near_misses_are_refused_by_submit_and_accepted_once_mapped(
    write_csv: object, tmp_path: Path, sandbox: Sandbox
) -> None:
    path = tmp_path / "typos.csv"
    path.write_text(csv_text(NEAR_MISS_ROWS), encoding="utf-8")
    refused = run_cli("submit", path, env=sandbox_env(sandbox))
    assert refused.exit_code == 2
    assert "'Notes' (did you mean note?)" in refused.stderr
    assert "'custmer_id' (did you mean customer_id?)" in refused.stderr
    assert "--map 'Notes=note'" in refused.stderr
    assert sandbox.events() == []

    warned = run_cli("validate", path)
    assert warned.exit_code == 0
    assert "did you mean note?" in warned.stderr

    accepted = run_cli(
        "submit",
        path,
        "--map",
        "Notes=note",
        "--map",
        "custmer_id=customer_id",
        env=sandbox_env(sandbox),
    )
    assert accepted.exit_code == 0, accepted.output
    assert [event.body for event in sandbox.events()] == [
        {
            "connection_key": "bank:op",
            "request_type": "setup",
            "note": "please hurry",
            "customer_id": "sandbox-company",
        }
    ]
    rows = read_results_csv(tmp_path / "typos.results.csv")
    assert list(rows[0])[-2:] == ["Notes", "custmer_id"]  # the input's own headers


def test_a_near_miss_ignored_on_purpose_is_sent_without_it(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    path = tmp_path / "typos.csv"
    path.write_text(csv_text(NEAR_MISS_ROWS), encoding="utf-8")
    outcome = run_cli(
        "submit", path, "--map", "Notes=-", "--map", "custmer_id=-", env=sandbox_env(sandbox)
    )
    assert outcome.exit_code == 0, outcome.output
    assert [event.body for event in sandbox.events()] == [
        {"connection_key": "bank:op", "request_type": "setup"}
    ]


def test_near_miss_rule_on_both_sides_of_the_line() -> None:
    # Above: a plural, a dropped letter, a missing suffix.
    for header, known in [
        ("Notes", "note"),
        ("custmer_id", "customer_id"),
        ("Conection Key", "connection_key"),
        ("customer", "customer_id"),
        ("metdata.amount", "metadata.amount"),
    ]:
        assert near_miss(header) == known
    # Below: a word that merely shares letters, a stem without its type.
    for header, nearest in [
        ("request", "request_type"),
        ("node", "note"),
        ("Asiakas", "customer_id"),
    ]:
        assert fuzz.ratio(header.casefold(), nearest) < NEAR_MISS_SCORE
        assert near_miss(header) is None


def test_two_fitting_profiles_are_refused_naming_both(tmp_path: Path) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        FINNISH_PROFILE + FINNISH_PROFILE.replace("finnish", "other"), encoding="utf-8"
    )
    path = tmp_path / "fi.csv"
    path.write_text(csv_text([FINNISH_HEADER, ["bank:op", "setup", "", ""]]), encoding="utf-8")
    outcome = run_cli("validate", path, "--config", config)
    assert outcome.exit_code == 2
    assert "'finnish' and 'other'" in outcome.stderr
    chosen = run_cli("validate", path, "--config", config, "--profile", "other")
    assert chosen.exit_code == 0, chosen.output


def test_a_file_name_pattern_narrows_but_never_picks_alone(tmp_path: Path) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text(
        FINNISH_PROFILE.replace("[profiles.finnish]", '[profiles.finnish]\nfiles = "fi-*"'),
        encoding="utf-8",
    )
    other = tmp_path / "fi-2.csv"
    other.write_text(csv_text([["Yhteys", "Muu"], ["bank:op", "x"]]), encoding="utf-8")
    assert run_cli("validate", other, "--config", config).exit_code == 2
    named_wrong = tmp_path / "elsewhere.csv"
    named_wrong.write_text(
        csv_text([FINNISH_HEADER, ["bank:op", "setup", "", ""]]), encoding="utf-8"
    )
    assert run_cli("validate", named_wrong, "--config", config).exit_code == 2


def test_results_workbook_fed_back_is_read_with_the_same_mapping(tmp_path: Path) -> None:
    source = _workbook(tmp_path / "typos.xlsx", NEAR_MISS_ROWS)
    first = run_cli("validate", source, "--map", "Notes=note", "--map", "custmer_id=customer_id")
    assert first.exit_code == 0, first.output
    results = tmp_path / "typos.results.xlsx"
    sheet = read_requests(results, refuse_near_misses=True)
    assert sheet.table.was_results_file
    report = validate(sheet)
    assert next(report.valid_rows).body == {
        "connection_key": "bank:op",
        "request_type": "setup",
        "note": "please hurry",
        "customer_id": "sandbox-company",
    }
    again = run_cli("validate", results)
    assert again.exit_code == 0, again.output
    assert "column 'Notes' → note" in again.stdout


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--map", "Notes=notes_field"], "--map: 'Notes' is mapped to 'notes_field'"),
        (["--map", "Notes=note", "--map", "Other=note"], "both mapped to note"),
        (["--map", "Notes"], "--map 'Notes': write SOURCE=TARGET"),
        (["--profile", "nope"], "--profile 'nope'"),
    ],
)
def test_bad_mapping_input_is_exit_2_naming_the_flag(
    tmp_path: Path, args: list[str], names: str
) -> None:
    path = tmp_path / "typos.csv"
    path.write_text(csv_text(NEAR_MISS_ROWS), encoding="utf-8")
    outcome = run_cli("validate", path, *args)
    assert outcome.exit_code == 2
    assert names in outcome.stderr
    assert not (tmp_path / "typos.results.csv").exists()


def test_a_profile_naming_an_unknown_column_names_the_config_line(tmp_path: Path) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text('[profiles.x.columns]\nA = "connection_key"\nB = "kind"\n', "utf-8")
    path = tmp_path / "r.csv"
    path.write_text(csv_text(NEAR_MISS_ROWS), encoding="utf-8")
    outcome = run_cli("validate", path, "--config", config)
    assert outcome.exit_code == 2
    assert "line 3" in outcome.stderr and "'kind'" in outcome.stderr


def test_columns_command_says_how_each_header_is_read(tmp_path: Path) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text('[columns]\n"Old column" = "-"\n', encoding="utf-8")
    path = tmp_path / "r.csv"
    path.write_text(
        csv_text(
            [
                ["Title"],
                [],
                ["Yhteys", "request_type", "Notes", "Old column", "Extra", "metadata.amount:int"],
                ["a", "b", "c", "d", "e", "1"],
            ]
        ),
        encoding="utf-8",
    )
    outcome = run_cli("columns", path, "--config", config, "--map", "Yhteys=connection_key")
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.stdout.splitlines()
    assert lines[0].endswith("header in row 3")
    assert "A  Yhteys → connection_key (text; mapped by --map)" in lines[1]
    assert "B  request_type → request_type (text; its own name)" in lines[2]
    assert "did you mean note?" in lines[3]
    assert "ignored on purpose ([columns]" in lines[4]
    assert "not a column lac-batch knows" in lines[5]
    assert "metadata.amount:int (int; its own name)" in lines[6]


def test_config_check_shows_profiles_and_warns_about_near_misses(tmp_path: Path) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text(FINNISH_PROFILE, encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "old.csv").write_text(csv_text(NEAR_MISS_ROWS), encoding="utf-8")
    outcome = run_cli(
        "config", "check", "--config", config, env={"LAC_API_KEY": "k-123", "LAC_LEDGER": ""}
    )
    assert outcome.exit_code == 0, outcome.output
    assert "Profile finnish" in outcome.stdout
    assert "Yhteys → connection_key" in outcome.stdout
    assert "column 'Notes' is a near miss of note" in outcome.stdout


def test_unfilled_template_never_sends_its_example(tmp_path: Path) -> None:
    template = tmp_path / "t.xlsx"
    assert run_cli("template", template).exit_code == 0
    outcome = run_cli("validate", template)
    assert outcome.exit_code == 2
    assert "no data rows" in outcome.stderr
    book = openpyxl.load_workbook(template)
    del book["requests"]
    book.save(template)
    alone = run_cli("validate", template)
    assert alone.exit_code == 2, alone.output


_CANONICAL = ["connection_key", "request_type", "customer_id", "note", "metadata.amount:int"]
_ROW = ["bank:op", "setup", "sandbox-company", "a note", "1 234"]


def _spelling(draw: st.DrawFn, name: str) -> str:
    """A spelling the folding accepts: any case, separators as spaces, hyphens or runs."""
    _, dot, rest = name.partition(".")
    if dot:
        key, _, kind = rest.partition(":")
        metadata = draw(st.sampled_from(["metadata", "Metadata", "METADATA"]))
        return f"{metadata}.{key}:{draw(st.sampled_from([kind, kind.upper()]))}"
    words = name.split("_")
    separators = st.sampled_from(["_", " ", "-", "__", " - "])
    text = words[0]
    for word in words[1:]:
        text += draw(separators) + word
    text = "".join(draw(st.sampled_from([ch.lower(), ch.upper()])) for ch in text)
    if dot:
        key, _, kind = rest.partition(":")
        return (
            draw(st.sampled_from(["metadata", "Metadata", "METADATA"]))
            + "."
            + key
            + ":"
            + (draw(st.sampled_from([kind, kind.upper()])))
        )
    return draw(st.sampled_from(["", " "])) + text + draw(st.sampled_from(["", " "]))


@st.composite
def _headers(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Per column: a folded spelling, or a made-up name mapped to it with --map."""
    headers: list[str] = []
    maps: list[str] = []
    for index, name in enumerate(_CANONICAL):
        if draw(st.booleans()):
            headers.append(_spelling(draw, name))
        else:
            made_up = draw(st.sampled_from(["Sarake", "Kenttä", "Column", "Feld"])) + str(index)
            headers.append(made_up)
            maps.append(f"{made_up}={_spelling(draw, name).strip()}")
    return headers, maps


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spelled=_headers())
def test_header_spellings_within_the_rules_give_the_canonical_bodies(
    tmp_path: Path, spelled: tuple[list[str], list[str]]
) -> None:
    headers, maps = spelled
    canonical = tmp_path / "canonical.csv"
    canonical.write_text(csv_text([_CANONICAL, _ROW]), encoding="utf-8")
    variant = tmp_path / "variant.csv"
    variant.write_text(csv_text([headers, _ROW]), encoding="utf-8")
    expected = [row.body_json for row in validate(read_requests(canonical)).rows]
    setup = column_setup(None, column_map=maps)
    got = [
        row.body_json
        for row in validate(read_requests(variant, columns=setup, refuse_near_misses=True)).rows
    ]
    assert got == expected
    assert json.loads(got[0] or "{}")["metadata"] == {"amount": 1234}


MAPS = ["--map", "Notes=note", "--map", "custmer_id=customer_id"]


def test_results_csv_fed_back_is_read_as_the_run_that_wrote_it(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    path = tmp_path / "typos.csv"
    path.write_text(csv_text(NEAR_MISS_ROWS), encoding="utf-8")
    assert run_cli("submit", path, *MAPS, env=sandbox_env(sandbox)).exit_code == 0
    # No flags: the ledger's record of the run that wrote it says how Notes was read.
    again = run_cli("submit", tmp_path / "typos.results.csv", env=sandbox_env(sandbox))
    assert again.exit_code == 0, again.output
    assert "skipped 1" in again.stdout
    assert len(sandbox.events()) == 1


def test_a_changed_mapping_is_refused_naming_both_until_remap(
    tmp_path: Path, sandbox: Sandbox, ledger_location: str
) -> None:
    path = tmp_path / "typos.csv"
    path.write_text(csv_text(NEAR_MISS_ROWS), encoding="utf-8")
    ignored = ["--map", "Notes=-", "--map", "custmer_id=customer_id"]
    assert run_cli("submit", path, *ignored, env=sandbox_env(sandbox)).exit_code == 0
    changed = run_cli("submit", path, *MAPS, env=sandbox_env(sandbox))
    assert changed.exit_code == 2
    assert "Notes→-" in changed.stderr and "Notes→note" in changed.stderr
    assert "--remap" in changed.stderr
    assert len(sandbox.events()) == 1
    same = run_cli("submit", path, *ignored, env=sandbox_env(sandbox))
    assert same.exit_code == 0 and "skipped 1" in same.stdout
    remapped = run_cli("submit", path, *MAPS, "--remap", env=sandbox_env(sandbox))
    assert remapped.exit_code == 0, remapped.output
    assert [event.body.get("note") for event in sandbox.events()] == [None, "please hurry"]


def test_template_for_a_profile_has_its_source_names_and_is_picked_by_it(
    tmp_path: Path,
) -> None:
    config = tmp_path / "lac-batch.toml"
    config.write_text(FINNISH_PROFILE, encoding="utf-8")
    template = tmp_path / "fi.xlsx"
    outcome = run_cli("template", template, "--profile", "finnish", "--config", config)
    assert outcome.exit_code == 0, outcome.output
    book = openpyxl.load_workbook(template)
    assert [cell.value for cell in book["requests"][1]] == FINNISH_HEADER
    book["requests"].append(["bank:op", "setup", "", ""])
    book.save(template)
    filled = run_cli("validate", template, "--config", config)
    assert filled.exit_code == 0, filled.output
    assert "column 'Yhteys' → connection_key (profile 'finnish'" in filled.stdout


def test_report_rebuilds_a_mapped_file_as_its_run_read_it(tmp_path: Path, sandbox: Sandbox) -> None:
    path = tmp_path / "typos.csv"
    path.write_text(csv_text(NEAR_MISS_ROWS), encoding="utf-8")
    assert run_cli("submit", path, *MAPS, env=sandbox_env(sandbox)).exit_code == 0
    (tmp_path / "typos.results.csv").unlink()
    rebuilt = run_cli("report", "--file", path)
    assert rebuilt.exit_code == 0, rebuilt.output
    rows = read_results_csv(tmp_path / "typos.results.csv")
    assert rows[0]["status"] == "accepted"


def test_run_moves_a_file_with_a_near_miss_to_failed_and_sends_nothing(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _inbox(tmp_path, "", monkeypatch)
    source = tmp_path / "inbox" / "typos.csv"
    source.write_text(csv_text(NEAR_MISS_ROWS), encoding="utf-8")
    _settled(source)
    outcome = run_cli("run", "--once", "--config", config, env=sandbox_env(sandbox))
    assert outcome.exit_code == 1, outcome.output
    assert sandbox.events() == []
    note = next((tmp_path / "failed").glob("*.error.txt")).read_text(encoding="utf-8")
    assert "did you mean note?" in note


def test_an_older_ledger_gains_the_mapping_of_runs_and_keeps_its_runs(tmp_path: Path) -> None:
    mapping_version = next(
        version for version, sql in MIGRATIONS.items() if "ADD COLUMN mapping" in sql
    )
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        for version in range(1, mapping_version):
            db.executescript(MIGRATIONS[version])
        db.execute(
            "INSERT INTO runs (started_at, pid, command, file_name, file_path, file_hash, account, "
            "base_url) VALUES ('2026-01-01', 1, 'submit', 'a.csv', '/a.csv', 'h', 'acc', 'u')"
        )
        db.execute(f"PRAGMA user_version = {mapping_version - 1}")
    Ledger.open(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT file_name, mapping FROM runs").fetchall() == [("a.csv", "")]


def test_a_misspelt_required_header_below_a_title_is_found_and_named(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        csv_text(
            [
                ["Customer requests export"],
                [],
                ["Conection Key", "request_type"],
                ["k1", "new_connection"],
            ]
        ),
        encoding="utf-8",
    )
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 2
    assert "row 3" in outcome.stderr
    assert "'Conection Key': did you mean connection_key?" in outcome.stderr


def test_a_header_nowhere_found_says_how_to_point_at_it_or_map_it(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        csv_text([["Asiakasvienti 7.12.2026"], [], ["Yhteys", "Pyyntö"], ["k1", "setup"]]),
        encoding="utf-8",
    )
    outcome = run_cli("validate", path)
    assert outcome.exit_code == 2
    assert "--header-row" in outcome.stderr
    assert "--map 'ITS NAME=connection_key'" in outcome.stderr
