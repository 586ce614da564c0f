"""running_sandbox starts a real server on a free loopback port and leaves nothing behind."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest
from sandbox_fixtures import client_for, post

from lac_batch.sandbox import running_sandbox
from lac_batch.sandbox.server import SANDBOX_THREAD_NAME


def sandbox_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == SANDBOX_THREAD_NAME]


def test_accepts_connections_as_soon_as_it_is_entered() -> None:
    with running_sandbox() as sandbox, client_for(sandbox) as client:
        assert post(client).status_code == 202


def test_stops_its_thread_and_frees_its_port_on_exit() -> None:
    with running_sandbox() as sandbox, client_for(sandbox) as client:
        post(client)
        port = sandbox.port

    assert sandbox_threads() == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_stops_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), running_sandbox():
        raise RuntimeError("boom")

    assert sandbox_threads() == []


def test_several_sandboxes_run_side_by_side_on_their_own_ports() -> None:
    with running_sandbox() as first, running_sandbox() as second:
        with client_for(first) as client:
            post(client)

        assert first.port != second.port
        assert (len(first.events()), len(second.events())) == (1, 0)


def test_ipv6_loopback_works_too() -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    with running_sandbox(host="::1") as sandbox, client_for(sandbox) as client:
        assert sandbox.base_url == f"http://[::1]:{sandbox.port}/portal"
        assert post(client).status_code == 202


def test_an_address_it_cannot_bind_fails_at_once_and_leaks_no_thread() -> None:
    # 192.0.2.1 is reserved for documentation: no interface here has it, so bind fails
    # without a single packet being sent.
    with pytest.raises(OSError), running_sandbox(host="192.0.2.1"):
        pass

    assert sandbox_threads() == []


def test_keep_alive_connections_do_not_hold_up_the_exit() -> None:
    with running_sandbox() as sandbox:
        client = httpx.Client(base_url=sandbox.base_url, trust_env=False)
        post(client)
    # The client still holds its pooled connection; the sandbox closed it from its side.
    client.close()

    assert sandbox_threads() == []
