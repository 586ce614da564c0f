"""Make (or reuse) the virtualenv an orchestrator example is tested in: ``examples/.venvs/TOOL``.

    python examples/make_venv.py airflow [dagster prefect]

Each example gets its own virtualenv, so its orchestrator's dependencies cannot clash with
lac-batch's development ones. A virtualenv is reused while its inputs are unchanged: the
example's requirements.txt and constraints.txt, lac-batch's pyproject.toml (its dependencies)
and the Python version, hashed together into a stamp file. Otherwise it is made afresh; lac-batch
is installed editable from this repository, so a change to its code needs no new virtualenv.
Prints how long each took, so the cost of a fresh one stays visible in CI's log.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
REPO = EXAMPLES.parent
VENVS = EXAMPLES / ".venvs"
STAMP = ".lac-batch-inputs"


def inputs_digest(tool: str) -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in (
        EXAMPLES / tool / "requirements.txt",
        EXAMPLES / tool / "constraints.txt",
        REPO / "pyproject.toml",
    ):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def python_of(folder: Path) -> Path:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return folder / scripts / ("python.exe" if sys.platform == "win32" else "python")


def ensure(tool: str) -> Path:
    folder = VENVS / tool
    stamp = folder / STAMP
    wanted = inputs_digest(tool)
    if stamp.is_file() and stamp.read_text(encoding="ascii") == wanted:
        print(f"examples/{tool}: virtualenv reused (inputs unchanged)", flush=True)
        return folder
    started = time.monotonic()
    shutil.rmtree(folder, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    pip = [str(python_of(folder)), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run(
        [
            *pip,
            "install",
            "--quiet",
            "-r",
            str(EXAMPLES / tool / "requirements.txt"),
            "-c",
            str(EXAMPLES / tool / "constraints.txt"),
            "-e",
            str(REPO),
        ],
        check=True,
    )
    # Written last: a virtualenv whose install was cut short is made again next time.
    stamp.write_text(wanted, encoding="ascii")
    print(f"examples/{tool}: virtualenv made in {time.monotonic() - started:.0f} s", flush=True)
    return folder


def main(tools: list[str]) -> int:
    known = sorted(path.parent.name for path in EXAMPLES.glob("*/requirements.txt"))
    unknown = [tool for tool in tools if tool not in known]
    if not tools or unknown:
        print(f"usage: make_venv.py TOOL...; TOOL is one of {', '.join(known)}", file=sys.stderr)
        return 2
    for tool in tools:
        ensure(tool)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
