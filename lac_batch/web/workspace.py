"""Where a page's files live: one private folder per session under the app's working folder.

Uploads, edited copies and results files of a session stay in its folder (mode 0700). Folders
older than :data:`KEEP_SESSION_FOLDERS` are deleted when the page next starts. A file is named
in a URL only by its bare name, which must be one the session wrote.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import timedelta
from pathlib import Path

import platformdirs

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

KEEP_SESSION_FOLDERS = timedelta(days=7)
"""How long a session's folder (its uploads, edited copies, results) is kept."""

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
"""The largest upload the page takes (a 50,000-row sheet is a few MB)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def pages_folder() -> Path:
    """The app's working folder for the page: session folders and the login redirect files."""
    return platformdirs.user_state_path("lac-batch", appauthor=False) / "web"


def private_folder(path: Path) -> Path:
    """Create ``path`` (and its parents) readable by this user only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        path.chmod(0o700)  # mkdir's mode is masked by the umask, and exist_ok keeps an old one
    return path


def prune_old_sessions(folder: Path, keep: timedelta = KEEP_SESSION_FOLDERS) -> int:
    """Delete session folders not changed for ``keep``; returns how many."""
    if not folder.is_dir():
        return 0
    cutoff = time.time() - keep.total_seconds()
    pruned = 0
    for entry in folder.iterdir():
        try:
            old = entry.is_dir() and entry.stat().st_mtime < cutoff
        except OSError:
            continue
        if old:
            shutil.rmtree(entry, ignore_errors=True)
            pruned += 1
    return pruned


def safe_file_name(name: str, fallback: str = "upload") -> str:
    """A browser's file name as a plain name in the session's folder (no folders, no dots
    first, only letters, digits, ``._-``), keeping its extension."""
    base = Path(name.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _UNSAFE.sub("_", stem).strip("._") or fallback
    suffix = _UNSAFE.sub("", suffix).lower()
    return f"{stem[:80]}.{suffix}" if suffix else stem[:80]


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem-2.ext``, ``stem-3.ext``, ... when it is taken."""
    path = folder / name
    number = 2
    while path.exists():
        path = folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
        number += 1
    return path


class SessionFiles:
    """The files of one session, and the only ones its download links may name."""

    def __init__(self, folder: Path) -> None:
        self.folder = private_folder(folder)
        self._offered: set[str] = set()

    def offer(self, path: Path) -> str:
        """Let ``path`` (in the folder) be downloaded; returns the name its link uses."""
        if path.parent.resolve() != self.folder.resolve():
            raise ValueError(f"{path} is not in the session's folder")
        self._offered.add(path.name)
        return path.name

    def lookup(self, name: str) -> Path | None:
        """The file a link names, or None: only a bare name the session offered, still there."""
        if name not in self._offered or name != Path(name).name or name in {".", ".."}:
            return None
        path = self.folder / name
        return path if path.is_file() and path.parent.resolve() == self.folder.resolve() else None
