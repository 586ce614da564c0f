"""The folders of an unattended run: which inbox files are ready, and where files go after.

A file is left for the next run when it may still be being written (changed in the last
``settle_seconds``), and always when it is an Excel lock file (``~$…``), hidden, or a temporary
download or save name. Moves use :func:`shutil.move`, so the archive may live on another volume,
and never overwrite: a name already taken gets ``-2``, ``-3``, … before its extension.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lac_batch.model.errors import UsageError

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_TEMPORARY_SUFFIXES = {".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".swp"}
_TEMPORARY_PREFIXES = ("~$", ".~lock.", "~", ".")
# Windows file names may not contain ':', so timestamps are written YYYYMMDDTHHMMSS.
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S"


@dataclass(frozen=True)
class Folders:
    inbox: Path
    archive: Path
    results: Path
    failed: Path

    def create(self) -> None:
        """Create the folders that are missing; UsageError (exit 2) naming one that cannot be."""
        roles = {
            "inbox": self.inbox,
            "archive": self.archive,
            "results": self.results,
            "failed": self.failed,
        }
        for role, folder in roles.items():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise UsageError(
                    f"the {role} folder {folder} cannot be created ({error.strerror or error}); "
                    f"nothing was read or sent. Set folders.{role} in the config file to a "
                    "folder that can be written, or fix the one named."
                ) from error


def _is_temporary(path: Path) -> bool:
    name = path.name
    return name.startswith(_TEMPORARY_PREFIXES) or path.suffix.lower() in _TEMPORARY_SUFFIXES


def ready_files(
    inbox: Path, settle_seconds: float, now: float | None = None
) -> tuple[list[Path], list[Path]]:
    """(files to process oldest first, files left because they are still changing)."""
    moment = time.time() if now is None else now
    ready: list[tuple[float, str, Path]] = []
    settling: list[Path] = []
    for path in inbox.iterdir():
        if not path.is_file() or _is_temporary(path):
            continue
        modified = path.stat().st_mtime
        if moment - modified < settle_seconds:
            settling.append(path)
        else:
            ready.append((modified, path.name, path))
    return [path for _, _, path in sorted(ready)], settling


def _numbered(path: Path) -> Iterator[Path]:
    yield path
    number = 2
    while True:
        yield path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1


def unique_path(path: Path) -> Path:
    """``path``, or the first ``stem-N.ext`` beside it that does not exist yet."""
    return next(candidate for candidate in _numbered(path) if not candidate.exists())


def archive_name(source: Path, folder: Path, moment: datetime | None = None) -> Path:
    """``archive/orders.20261126T031500.xlsx``, never an existing name."""
    stamp = (moment or datetime.now()).strftime(TIMESTAMP_FORMAT)
    return unique_path(folder / f"{source.stem}.{stamp}{source.suffix}")


def move_without_overwriting(source: Path, target: Path) -> Path:
    """Move ``source`` to ``target`` (or a numbered name beside it); returns where it went."""
    destination = unique_path(target)
    shutil.move(str(source), str(destination))
    return destination
