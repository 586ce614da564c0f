"""Writing the CSV results file: formula escaping, and copying input lines where that is safe.

Quoting every cell of a million rows again took longer than validating them. A row read from a
single line of a CSV file (see :attr:`RawTable.lines`) is written as its result block followed
by that line, which a CSV reader reads back as exactly the same cells; a row is written cell by
cell instead when its block has text that needs quoting, or when one of its cells may start
with a character that makes Excel run it as a formula.
"""

from __future__ import annotations

import csv
import io
import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import TextIO, cast

from lac_batch.files.table import RawTable

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

# A cell starting with one of these runs as a formula when Excel opens a CSV (CSV injection);
# a leading apostrophe makes Excel show it as text. "'" itself is in the set so that the one
# apostrophe the writer adds can always be told apart and removed on the way back in.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
# A NUL and then a trigger: a pattern that starts with a literal is searched several times
# faster than one that starts with a choice (\A or NUL).
_TRIGGER_AFTER_NUL = re.compile("\x00[" + re.escape("".join(FORMULA_TRIGGERS)) + "]")
_CHUNK_ROWS = 20_000


def escape_csv_cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def unescape_csv_cell(text: str) -> str:
    """Undo :func:`escape_csv_cell`: the writer's apostrophe is always followed by a trigger."""
    if len(text) >= 2 and text[0] == "'" and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def escaped_row(cells: list[str]) -> list[str]:
    # One search over the joined row finds the rare row with a cell to escape; a NUL inside a
    # cell can only cause a needless per-cell pass, never a missed one.
    if _TRIGGER_AFTER_NUL.search("\x00".join(["", *cells])) is None:
        return cells
    return [escape_csv_cell(cell) for cell in cells]


def _cell_start_triggers(delimiter: str) -> tuple[re.Pattern[str], ...]:
    """Find, in lines each preceded by a line end, a cell that may start with a trigger.

    A cell starts after a line end or a delimiter, maybe with an opening quote, or with an
    empty quoted part (``""=1`` reads as ``=1``). A match may also fall inside a quoted cell
    (that row is then written cell by cell, to the same effect) but no cell is missed. A line
    that is a whole row holds no CR but its line end, so CR is left out of the set, or every
    row ending in an empty cell would match. Two patterns that each start with one literal
    character: regular expressions skip ahead to a literal fast.
    """
    triggers = re.escape("".join(trigger for trigger in FORMULA_TRIGGERS if trigger != "\r"))
    return tuple(
        re.compile(re.escape(start) + '"{0,2}[' + triggers + "]") for start in ("\n", delimiter)
    )


def _rows_to_copy(lines: Sequence[str], patterns: Sequence[re.Pattern[str]]) -> list[bool]:
    """Per line: True when it is a whole row ("" is not) and no cell of it may need escaping."""
    copy = list(map(bool, lines))
    text = "\n" + "".join(lines)  # each line after the line end of the one before it
    ends: list[int] | None = None
    for pattern in patterns:
        for found in pattern.finditer(text):
            ends = ends or list(accumulate(map(len, lines)))
            # The trigger's place in the joined lines is found.end() - 1, less the leading "\n".
            copy[bisect_right(ends, found.end() - 2)] = False
    return copy


def write_csv(
    stream: TextIO,
    header: Sequence[str],
    table: RawTable,
    blocks: Sequence[tuple[object, ...]],
    delimiter: str,
) -> None:
    """``header``, then per row its result block and its cells (copied from its line if it can).

    Rows are written a chunk at a time; in each, the rows that cannot be copied are written
    cell by cell into their place.
    """
    chunk = io.StringIO()
    writer = csv.writer(chunk, delimiter=delimiter, lineterminator="\r\n")
    # The rows above the header (titles) first, so the header keeps its row number.
    for cells in table.above:
        writer.writerow(escaped_row(list(cells)))
    writer.writerow([escape_csv_cell(name) for name in header])
    stream.write(chunk.getvalue())
    lines = table.lines if table.lines is not None and table.delimiter == delimiter else None
    patterns = _cell_start_triggers(delimiter)
    # Every block cell after row and status empty: the block needs no quoting.
    plain_tail = ("",) * (len(blocks[0]) - 2) if blocks else ()
    separators = delimiter * (len(plain_tail) + 1)
    for start in range(0, len(blocks), _CHUNK_ROWS):
        part = blocks[start : start + _CHUNK_ROWS]
        rows = table.rows[start : start + _CHUNK_ROWS]
        if lines is None:
            texts: list[str | None] = [None] * len(part)
        else:
            part_lines = lines[start : start + _CHUNK_ROWS]
            texts = [
                f"{block[0]}{delimiter}{block[1]}{separators}{line}"
                if copied and block[2:] == plain_tail
                else None
                for block, line, copied in zip(
                    part, part_lines, _rows_to_copy(part_lines, patterns), strict=True
                )
            ]
        for index in [index for index, text in enumerate(texts) if text is None]:
            chunk.seek(0)
            chunk.truncate()
            writer.writerow(escaped_row([*map(str, part[index]), *rows[index]]))
            texts[index] = chunk.getvalue()
        stream.write("".join(cast(list[str], texts)))
