"""Record what a run looks like in a real terminal, as text, for the README to link.

    .venv/bin/python docs/capture_terminal.py [--rows 3000] [--rate 50] [--stop-after 12]

It starts `lac-batch sandbox` and a 3,000-row `lac-batch submit --rate 50` against it, each in a
real 120x30 pseudo-terminal of tmux (which must be installed), presses Ctrl-C in the middle of
the submit, and writes both screens as text: docs/terminal-ctrl-c.txt and
docs/terminal-sandbox.txt. Nothing leaves this machine (the sandbox listens on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
LAC_BATCH = Path(sys.executable).with_name("lac-batch")


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


def screen(target: str) -> str:
    """The visible screen, trailing blank lines left out."""
    return tmux("capture-pane", "-p", "-t", target).rstrip() + "\n"


def wait_for(target: str, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in screen(target):
        if time.monotonic() > deadline:
            raise SystemExit(f"never saw {text!r}:\n{screen(target)}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--stop-after", type=float, default=12, help="seconds before Ctrl-C")
    parser.add_argument("--port", type=int, default=18799)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed: it is the terminal this recording is made in.")
    session = f"lac-capture-{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="lac-capture-") as folder:
        work = Path(folder)
        with (work / "big.csv").open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["connection_key", "request_type", "note"])
            writer.writerows([f"bank:k{n:05d}", "setup", f"row {n}"] for n in range(args.rows))
        tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "30", "-c", folder)
        try:
            tmux("new-window", "-d", "-t", session, "-n", "sandbox", "-c", folder)
            sandbox = f"{session}:sandbox"
            tmux("send-keys", "-t", sandbox, f"{LAC_BATCH} sandbox --port {args.port}", "Enter")
            wait_for(sandbox, "Press Ctrl-C to stop.")
            run = f"{session}:0"
            tmux("send-keys", "-t", run, "export LAC_API_KEY=lac_sk_sandbox_write; clear", "Enter")
            time.sleep(0.5)
            command = (
                f"lac-batch submit big.csv --base-url http://127.0.0.1:{args.port}/portal "
                f"--rate {args.rate:g} --ledger ledger.sqlite3"
            )
            # Shown as an operator types it; run with this checkout's lac-batch.
            tmux("send-keys", "-t", run, f"alias lac-batch={LAC_BATCH}; clear", "Enter")
            time.sleep(0.5)
            tmux("send-keys", "-t", run, command, "Enter")
            time.sleep(args.stop_after)
            tmux("send-keys", "-t", run, "C-c")
            wait_for(run, "Results:", timeout=60)
            (DOCS / "terminal-ctrl-c.txt").write_text(
                screen(run).replace(folder, "~/work"), encoding="utf-8"
            )
            sandbox_screen = screen(sandbox).replace(folder, "~/work")
            (DOCS / "terminal-sandbox.txt").write_text(sandbox_screen, encoding="utf-8")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], check=False, timeout=10)
    print(f"wrote {DOCS / 'terminal-ctrl-c.txt'} and {DOCS / 'terminal-sandbox.txt'}")


if __name__ == "__main__":
    main()
