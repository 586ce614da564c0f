"""Who may read the files lac-batch writes.

The ledger and the files beside it (``-wal``, ``-shm``, ``-journal``, the run lock and its note)
hold every request body ever sent: they are created 0600 whatever the umask, or 0660 when their
folder is a group-shared one (setgid bit), so that a team's operators can run ``report`` on a
service's ledger. An existing one with looser modes is tightened when its owner opens it (never
loosened, and never touched by anyone else). Everything else (results, archived inputs,
``failed/`` files, logs) is for people and follows the umask, as any program's output does.

On Windows a mode only sets the read-only flag, so nothing here changes anything there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

PRIVATE_MODE = 0o600
GROUP_SHARED_MODE = 0o660
LEDGER_COMPANION_SUFFIXES = ("-wal", "-shm", "-journal", ".lock", ".lock.json")
"""The files SQLite and the run lock keep beside ``ledger.sqlite3``, by suffix."""

_MODES_APPLY = os.name == "posix"
# A file for people is created 0666 less the umask, as any program's output is (mkstemp's 0600
# kept colleagues in a shared group from opening results and templates).
_PEOPLE_FILE_MODE = 0o666
_TEMPORARY_NAME_TRIES = 100


def create_people_temporary(path: Path) -> tuple[int, Path]:
    """A new hidden file beside ``path`` (never an existing one), open for writing, whose mode
    follows the umask; the caller writes it and renames it over ``path``.
    """
    # O_BINARY: Windows would otherwise turn every "\n" written through the handle into "\r\n".
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_TEMPORARY_NAME_TRIES):
        temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}{path.suffix}")
        try:
            return os.open(temporary, flags, _PEOPLE_FILE_MODE), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def ledger_file_mode(folder: Path) -> int:
    """0660 in a folder with the setgid bit (its group shares it), else 0600."""
    try:
        shared = bool(folder.stat().st_mode & stat.S_ISGID)
    except OSError:
        shared = False
    return GROUP_SHARED_MODE if shared else PRIVATE_MODE


def create_ledger_file(path: Path) -> bool:
    """Create ``path`` empty with the ledger's mode if it does not exist; True if it was created.

    SQLite takes an empty file as a new database and gives its ``-wal`` and ``-shm`` files the
    database's own mode, so no file of the ledger is ever readable by others, not even for the
    moment between creating and tightening it.
    """
    if not _MODES_APPLY:
        return False
    mode = ledger_file_mode(path.parent)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    try:
        os.fchmod(handle, mode)  # the umask may have taken the group's bits away
    finally:
        os.close(handle)
    return True


def tighten_ledger_files(path: Path) -> None:
    """Take away from the ledger and its companions every permission beyond the ledger's mode,
    for the files this user owns (a team's operator reading a service's ledger changes nothing).
    """
    if not _MODES_APPLY:
        return
    allowed = ledger_file_mode(path.parent)
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in LEDGER_COMPANION_SUFFIXES)):
        try:
            found = candidate.stat()
            current = stat.S_IMODE(found.st_mode)
            if found.st_uid == os.geteuid() and current & ~allowed:
                candidate.chmod(current & allowed)
        except OSError:
            continue  # absent, or not ours to change: SQLite or the lock will say if it matters


def write_ledger_note(path: Path, text: str) -> None:
    """Write a small file that lives beside the ledger (the lock's note) with the ledger's mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    mode = ledger_file_mode(path.parent)
    handle = os.open(path, flags, mode)
    if _MODES_APPLY:
        # Not ours (left by a colleague's run in a shared folder): it stays as it is.
        with contextlib.suppress(PermissionError):
            os.fchmod(handle, mode)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
