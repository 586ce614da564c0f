"""The exception table holds for the transport we ship, proven against real servers on loopback.

Each case uses :func:`lac_batch.sending.api.build_http_client` (httpx's default httpcore
transport), so a change of transport that changes what an exception means makes these fail.
"""

from __future__ import annotations

import asyncio
import socket

from lac_batch.sandbox import SANDBOX_WRITE_KEY, FaultConfig, Sandbox
from lac_batch.sending.api import Attempt, LacClient, OutcomeKind, build_http_client
from lac_batch.sending.credentials import ApiKey

BODY = '{"connection_key":"bank","request_type":"setup"}'


def send(base_url: str, *, timeout: float = 5.0) -> Attempt:
    async def go() -> Attempt:
        async with build_http_client(timeout=timeout, concurrency=1) as http:
            return await LacClient(http, base_url, ApiKey(SANDBOX_WRITE_KEY)).send(BODY, "idem-t")

    return asyncio.run(go())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_is_not_delivered() -> None:
    attempt = send(f"http://127.0.0.1:{free_port()}/portal")
    assert attempt.kind is OutcomeKind.NOT_DELIVERED
    assert "ConnectError" in attempt.error


def test_tls_handshake_failure_is_not_delivered_and_not_processed(sandbox: Sandbox) -> None:
    # The sandbox speaks plain HTTP, so a TLS client hello never completes a handshake.
    attempt = send(sandbox.base_url.replace("http://", "https://"))
    assert attempt.kind is OutcomeKind.NOT_DELIVERED
    assert sandbox.events() == []


def test_close_after_processing_is_ambiguous_and_was_processed(sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(p_close_after=1.0))
    attempt = send(sandbox.base_url)
    assert attempt.kind is OutcomeKind.AMBIGUOUS
    assert attempt.http_status is None
    assert len(sandbox.events()) == 1


def test_close_before_processing_is_also_ambiguous(sandbox: Sandbox) -> None:
    # From the client's side the two closes look the same, so neither may be called safe.
    sandbox.set_faults(FaultConfig(p_close_before=1.0))
    attempt = send(sandbox.base_url)
    assert attempt.kind is OutcomeKind.AMBIGUOUS
    assert sandbox.events() == []


def test_answer_slower_than_timeout_is_ambiguous(sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(latency_s=1.0))
    attempt = send(sandbox.base_url, timeout=0.2)
    assert attempt.kind is OutcomeKind.AMBIGUOUS
    assert "within the timeout" in attempt.error


def test_server_that_accepts_and_never_answers_is_ambiguous() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        attempt = send(f"http://127.0.0.1:{port}/portal", timeout=0.3)
    assert attempt.kind is OutcomeKind.AMBIGUOUS


def test_server_that_reads_then_closes_is_ambiguous_not_connect_error() -> None:
    """The trap of FACTS.md: with httpx-aiohttp this surfaces as ConnectTimeout."""

    async def go() -> Attempt:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, build_http_client(timeout=2, concurrency=1) as http:
            client = LacClient(http, f"http://127.0.0.1:{port}/portal", ApiKey("k"))
            return await client.send(BODY, "idem")

    attempt = asyncio.run(go())
    assert attempt.kind is OutcomeKind.AMBIGUOUS
    assert "RemoteProtocolError" in attempt.error
