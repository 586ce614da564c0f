"""Peak memory of ``lac-batch submit`` when the server answers every 202 with 1 GiB.

    .venv/bin/python benchmarks/memory.py            # 100 rows, concurrency 4
    .venv/bin/python benchmarks/memory.py --rows 20

Each run is ``python -m lac_batch submit`` in a child process against a small asyncio server on
127.0.0.1 in this process; the child's peak RSS comes from ``os.wait4`` (POSIX only). Modes:
``normal`` (a 202 with a small JSON body), ``1 GiB`` (a 202 announcing and streaming 1 GiB, for as
long as the client reads) and ``gzip bomb`` (a 202 whose gzip body expands to 1 GiB). Target: each
hostile mode within 50 MB of the normal run. It is a measurement, not a test: exit code 0 always.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

GIB = 1 << 30
TARGET_MB = 50.0
Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def head(headers: dict[str, str]) -> bytes:
    lines = ["HTTP/1.1 202 Accepted", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def normal(writer: asyncio.StreamWriter) -> None:
    body = json.dumps({"event_id": "evt_benchmark"}).encode()
    writer.write(head({"Content-Length": str(len(body))}) + body)
    await writer.drain()


async def one_gib(writer: asyncio.StreamWriter) -> None:
    writer.write(head({"Content-Length": str(GIB)}))
    chunk = b"x" * 65536
    for _ in range(GIB // len(chunk)):
        writer.write(chunk)
        await writer.drain()


def make_bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join([*(compressor.compress(block) for _ in range(GIB >> 20)), compressor.flush()])


def gzip_bomb(bomb: bytes) -> Writer:
    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(head({"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}) + bomb)
        await writer.drain()

    return write


@contextmanager
def serving(answer: Writer) -> Iterator[str]:
    """Serve ``answer`` to every POST on 127.0.0.1; yields the base URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, object] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in request_head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                await reader.readexactly(length)
                await answer(writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        box["url"] = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/portal"
        box["stop"] = stop = asyncio.Event()
        ready.set()
        async with server:
            await stop.wait()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield str(box["url"])
    finally:
        stop = box["stop"]
        assert isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def peak_rss_mb(workdir: Path, rows: Path, base_url: str, concurrency: int) -> tuple[float, str]:
    """Peak RSS (MB) of one ``submit`` child, and its last line of output."""
    env = {
        **os.environ,
        "LAC_API_KEY": "lac_sk_memory_benchmark_key",
        "LAC_BASE_URL": base_url,
        "LAC_LEDGER": str(workdir / f"ledger-{os.urandom(4).hex()}.sqlite3"),
    }
    command = [sys.executable, "-m", "lac_batch", "submit", str(rows), "--rate", "1000"]
    command += ["--concurrency", str(concurrency), "--results", str(workdir / "results.csv")]
    child = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    lines = [line for line in output.splitlines() if line.strip()]
    # ru_maxrss is in KiB on Linux.
    return usage.ru_maxrss * 1024 / 1e6, lines[-1] if lines else ""


def write_rows(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["connection_key", "request_type", "note"])
        for index in range(count):
            writer.writerow([f"bank:memory-{index}", "setup", f"row {index}"])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    arguments = parser.parse_args()
    if not hasattr(os, "wait4"):
        sys.exit("this benchmark needs os.wait4 (Linux, macOS)")
    modes: dict[str, Writer] = {
        "normal": normal,
        "1 GiB": one_gib,
        "gzip bomb": gzip_bomb(make_bomb()),
    }
    with tempfile.TemporaryDirectory(prefix="lac-batch-memory-") as workdir:
        rows = write_rows(Path(workdir) / "rows.csv", arguments.rows)
        figures: dict[str, float] = {}
        for name, answer in modes.items():
            with serving(answer) as base_url:
                peak, last = peak_rss_mb(Path(workdir), rows, base_url, arguments.concurrency)
            figures[name] = peak
            print(f"{name:>10}: peak RSS {peak:7.1f} MB   ({last})")
    base = figures["normal"]
    for name in ("1 GiB", "gzip bomb"):
        extra = figures[name] - base
        verdict = "PASS" if extra <= TARGET_MB else "MISS"
        print(f"{name} vs normal: {extra:+.1f} MB (target within {TARGET_MB:g} MB) {verdict}")


if __name__ == "__main__":
    main()
