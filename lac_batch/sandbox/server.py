"""Running the sandbox with uvicorn: in a background thread for Python, or in the foreground.

The listening socket is bound here, before uvicorn starts, so the port (0 picks a free one) is
known at once and a port in use is an OSError the caller can explain. uvicorn runs with the
sandbox's own protocol class (see :mod:`lac_batch.sandbox.connection`), without access logging or
logging configuration of its own, so it neither slows down under load nor touches the host
program's logging.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import uvicorn

from lac_batch.sandbox.app import BASE_PATH, SandboxState, build_app
from lac_batch.sandbox.connection import DroppableH11Protocol
from lac_batch.sandbox.events import SandboxEvent
from lac_batch.sandbox.faults import FaultConfig
from lac_batch.sandbox.keys import DEFAULT_SANDBOX_KEYS, SandboxKey

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

NO_FAULTS = FaultConfig()
SANDBOX_THREAD_NAME = "lac-batch-sandbox"
"""Name of the thread :func:`running_sandbox` serves from."""
STARTUP_TIMEOUT_S = 10.0
GRACEFUL_SHUTDOWN_S = 2
"""How long requests still being processed (e.g. under injected latency) may finish on exit."""
STOP_TIMEOUT_S = GRACEFUL_SHUTDOWN_S + 3.0


class Sandbox:
    """A sandbox running in a background thread; made by :func:`running_sandbox`."""

    def __init__(self, state: SandboxState, host: str, port: int) -> None:
        self._state = state
        self.port = port
        self.base_url = base_url(host, port)
        """Like production's base URL: ``http://127.0.0.1:PORT/portal``."""
        self.log_path = state.events.path
        """The JSON-lines event log, or None if events are kept in memory only."""

    def received(self) -> Counter[str | None]:
        """POSTs received so far per Idempotency-Key, however they were answered (a copy)."""
        return self._state.received.counts()

    def arrivals(self) -> list[float]:
        """time.monotonic() at which each POST had been read whole, before any drawn latency or
        fault, oldest first: the moments a server's rate limiter counts (a copy)."""
        return self._state.received.arrivals()

    def events(self) -> list[SandboxEvent]:
        """The events accepted so far, oldest first (a copy; safe from any thread)."""
        return self._state.events.events()

    def revoke_key(self, key: str) -> None:
        """Answer 401 to every later request made with ``key``."""
        self._state.keys.revoke(key)

    def set_faults(self, faults: FaultConfig) -> None:
        """Inject ``faults`` from the next request on; the dice restart from ``faults.seed``."""
        self._state.faults.configure(faults)


def base_url(host: str, port: int) -> str:
    shown_host = f"[{host}]" if ":" in host else host
    return f"http://{shown_host}:{port}{BASE_PATH}"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``; port 0 picks a free port. OSError if it cannot bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol must be named: asyncio turns Nagle's algorithm off only for sockets whose
    # proto is IPPROTO_TCP, and with it on every keep-alive response waits ~40 ms for a delayed
    # ACK (socket.create_server leaves proto at 0).
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name == "posix":
            # Lets a restarted sandbox take its port back at once; on Windows it would let two
            # servers share the port.
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen()
    except OSError:
        listening.close()
        raise
    return listening


def _uvicorn_server(state: SandboxState, host: str) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(state),
        host=host,
        http=DroppableH11Protocol,
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return uvicorn.Server(config)


@contextmanager
def running_sandbox(
    faults: FaultConfig = NO_FAULTS,
    keys: Iterable[SandboxKey] | None = None,
    log_path: Path | str | None = None,
    host: str = "127.0.0.1",
    honour_idempotency_key: bool = True,
) -> Iterator[Sandbox]:
    """Start a sandbox on a free port of ``host`` and stop it on exit.

    ``keys`` replaces the two default keys when given; ``honour_idempotency_key=False`` makes it
    process every request anew, as an API that ignores the header would. On entry the server is
    accepting connections; on exit it has stopped, its thread has ended, and its socket and event
    log are closed.
    """
    with ExitStack() as cleanup:
        state = SandboxState.create(
            faults,
            DEFAULT_SANDBOX_KEYS if keys is None else keys,
            None if log_path is None else Path(log_path),
            honour_idempotency_key,
        )
        cleanup.callback(state.events.close)
        listening = bind_socket(host, 0)
        cleanup.callback(listening.close)
        server = _uvicorn_server(state, host)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [listening]},
            name=SANDBOX_THREAD_NAME,
            daemon=True,
        )
        thread.start()
        cleanup.callback(_stop, server, thread)
        _wait_until_started(server, thread)
        yield Sandbox(state, host, listening.getsockname()[1])


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the sandbox server stopped while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox server did not start within {STARTUP_TIMEOUT_S} s")
        time.sleep(0.001)


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(STOP_TIMEOUT_S)
    if thread.is_alive():
        raise RuntimeError(f"the sandbox server did not stop within {STOP_TIMEOUT_S} s")


def run_in_foreground(
    state: SandboxState, host: str, listening: socket.socket, announce: Callable[[], None]
) -> None:
    """Call ``announce``, then serve on ``listening`` until Ctrl-C, then return normally."""
    try:
        announce()
        _uvicorn_server(state, host).run(sockets=[listening])
    except KeyboardInterrupt:
        # uvicorn has already shut down gracefully; it re-raises the signal for the caller.
        pass
    finally:
        listening.close()
        state.events.close()
