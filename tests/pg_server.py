"""A real PostgreSQL server for the test suite, started from Debian's ``postgresql`` package.

initdb refuses to run as root, so as root the server runs as the ``postgres`` user (runuser),
its data folder in a temporary folder of its own that belongs to that user. It listens on a
free TCP port on 127.0.0.1 only, and on a Unix socket in that folder. Nothing outside the
temporary folder changes; the folder is removed when the server stops.

Two roles: ``postgres`` (trusted on loopback, for the tests' own set-up) and ``lac_secret``,
which must give its password (to test reading it from a password file).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import psycopg

SECRET_ROLE = "lac_secret"
SECRET_PASSWORD = "s3cret-Pw-for-tests"
_START_TIMEOUT_S = 60


def find_pg_ctl() -> Path:
    """pg_ctl on PATH, else in Debian's versioned folder; AssertionError when neither exists
    (``make test`` installs the package first: a missing server is a failure, never a skip)."""
    found = shutil.which("pg_ctl") or max(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), default="")
    assert found, "pg_ctl not found: install Debian's postgresql (make test does it)"
    return Path(os.path.realpath(found))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PgServer:
    folder: Path
    port: int
    bin_dir: Path
    as_user: str | None
    _databases: Iterator[int]

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    def new_database(self) -> str:
        """A fresh empty database's URL (one per test: no test sees another's records)."""
        name = f"ledger_{next(self._databases)}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
            db.execute(f'GRANT ALL ON DATABASE "{name}" TO {SECRET_ROLE}')
            db.execute(f'ALTER DATABASE "{name}" OWNER TO {SECRET_ROLE}')
        return self.url(name)


def _run(command: list[str], as_user: str | None) -> None:
    prefix = ["runuser", "-u", as_user, "--"] if as_user else []
    subprocess.run(
        prefix + command, check=True, capture_output=True, timeout=_START_TIMEOUT_S, text=True
    )


@contextlib.contextmanager
def running_postgres() -> Iterator[PgServer]:
    pg_ctl = find_pg_ctl()
    bin_dir = pg_ctl.parent
    as_user = "postgres" if os.geteuid() == 0 else None
    # Our own folder under the system temp folder (searchable by every user), so nothing else
    # has to change mode for the postgres user to reach its data.
    folder = Path(tempfile.mkdtemp(prefix="lac-pg-"))
    data, sockets = folder / "data", folder / "socket"
    sockets.mkdir()
    password_file = folder / "pw"
    password_file.write_text("unused-superuser-password\n")
    if as_user:
        shutil.chown(folder, as_user)
        shutil.chown(sockets, as_user)
        shutil.chown(password_file, as_user)
    server: PgServer | None = None
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
            as_user,
        )
        # The password role must give its password; every other role is trusted on loopback.
        hba = data / "pg_hba.conf"
        rules = f"host all {SECRET_ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text()
        hba.write_text(rules)
        for attempt in range(5):
            port = _free_port()
            log = folder / "server.log"
            options = (
                f"-p {port} -c listen_addresses=127.0.0.1 -k {sockets} -c fsync=off "
                "-c max_connections=60"
            )
            try:
                _run(
                    [
                        str(pg_ctl),
                        "start",
                        "-w",
                        "-t",
                        str(_START_TIMEOUT_S),
                        "-D",
                        str(data),
                        "-l",
                        str(log),
                        "-o",
                        options,
                    ],
                    as_user,
                )
                break
            except subprocess.CalledProcessError:
                if attempt == 4:
                    raise
        server = PgServer(folder, port, bin_dir, as_user, count(1))
        with psycopg.connect(server.url(), autocommit=True) as db:
            db.execute(f"CREATE ROLE {SECRET_ROLE} LOGIN PASSWORD '{SECRET_PASSWORD}'")
        yield server
    finally:
        if server is not None or (data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                _run([str(pg_ctl), "stop", "-w", "-m", "immediate", "-D", str(data)], as_user)
        shutil.rmtree(folder, ignore_errors=True)
