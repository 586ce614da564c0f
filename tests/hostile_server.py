"""A small HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose, one way per mode.

Raw asyncio, in a background thread: it reads each request's head and body (Content-Length), counts
what it RECEIVED per Idempotency-Key, then lets the mode write whatever it likes. A mode is an
async function of the request and the writer; it may trickle, stream for ever or close.
"""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = [
    "HostileServer",
    "Mode",
    "Request",
    "accepted_body",
    "answer",
    "endless_body_202",
    "gzip_bomb_202",
    "gzip_garbage_202",
    "hostile_server",
    "trickle_body_202",
    "trickle_status",
]

READ_BOUND_S = 10.0
"""How long the server waits for a request's head or body before dropping the connection."""


@dataclass(frozen=True)
class Request:
    number: int
    """1 for the first request the server received."""
    idempotency_key: str
    body: bytes


Mode = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class HostileServer:
    base_url: str
    mode: Mode
    received: Counter[str] = field(default_factory=Counter)
    """Requests received per Idempotency-Key, whatever was answered."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received_total(self) -> int:
        with self.lock:
            return sum(self.received.values())


def accepted_body(request: Request) -> bytes:
    return json.dumps({"event_id": f"evt_{request.idempotency_key[:16]}"}).encode()


def head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(status: str, body: bytes = b"{}", headers: dict[str, str] | None = None) -> Mode:
    """A well-formed answer with ``status`` and ``headers``."""

    async def mode(request: Request, writer: asyncio.StreamWriter) -> None:
        all_headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        writer.write(head(status, {**all_headers, **(headers or {})}) + body)
        await writer.drain()

    return mode


async def gzip_garbage_202(request: Request, writer: asyncio.StreamWriter) -> None:
    """202 whose body says gzip and is not."""
    body = b"this is not gzip at all"
    headers = {"Content-Encoding": "gzip", "Content-Length": str(len(body))}
    writer.write(head("202 Accepted", headers) + body)
    await writer.drain()


def trickle_status(interval_s: float) -> Mode:
    """A status line and headers that never end, one byte every ``interval_s``."""

    async def mode(request: Request, writer: asyncio.StreamWriter) -> None:
        for byte in b"HTTP/1.1 202 Accepted\r\nX-Slow: " + b"a" * 100_000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(interval_s)

    return mode


def trickle_body_202(interval_s: float) -> Mode:
    """202 and its headers at once, then a body of a byte every ``interval_s``."""

    async def mode(request: Request, writer: asyncio.StreamWriter) -> None:
        body = accepted_body(request) + b" " * 100_000
        writer.write(head("202 Accepted", {"Content-Length": str(len(body))}))
        for byte in body:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(interval_s)

    return mode


_CHUNK = b"x" * 65536


def endless_body_202(total: int) -> Mode:
    """202 announcing and streaming ``total`` bytes (as fast as the client takes them)."""

    async def mode(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head("202 Accepted", {"Content-Length": str(total)}))
        sent = 0
        while sent < total:
            piece = _CHUNK[: total - sent]
            writer.write(piece)
            await writer.drain()
            sent += len(piece)

    return mode


def gzip_bomb(decoded_size: int) -> bytes:
    """gzip of ``decoded_size`` zero bytes, made a MiB at a time (about 1/1000 of that size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(decoded_size >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb_202(bomb: bytes) -> Mode:
    async def mode(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}
        writer.write(head("202 Accepted", headers) + bomb)
        await writer.drain()

    return mode


async def _read_request(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes]:
    raw_head = await reader.readuntil(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")[1:]
    headers = {}
    for line in lines:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return headers, body


@contextmanager
def hostile_server(mode: Mode) -> Iterator[HostileServer]:
    """Serve ``mode`` (replaceable through ``.mode``) on a free port of 127.0.0.1."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, object] = {}

    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:
                try:
                    headers, body = await asyncio.wait_for(_read_request(reader), READ_BOUND_S)
                except (asyncio.IncompleteReadError, TimeoutError, ValueError):
                    return
                server = holder["server"]
                assert isinstance(server, HostileServer)
                key = headers.get("idempotency-key", "")
                with server.lock:
                    server.received[key] += 1
                    number = sum(server.received.values())
                await server.mode(Request(number, key, body), writer)
        except (ConnectionError, OSError):
            pass
        finally:
            handlers.discard(task)
            writer.close()

    async def serve() -> None:
        listening = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        holder["server"] = HostileServer(f"http://127.0.0.1:{port}/portal", mode)
        holder["stop"] = stop = asyncio.Event()
        started.set()
        async with listening:
            await stop.wait()
            # Handlers still writing (an endless body to a gone client) end with the server.
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10), "the hostile server did not start"
    server = holder["server"]
    assert isinstance(server, HostileServer)
    try:
        yield server
    finally:
        stop = holder["stop"]
        assert isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
