"""Serving the page: on loopback only, with a login link the browser gets from a private file."""

from __future__ import annotations

import ipaddress
import os
import socket
import webbrowser
from collections.abc import Callable
from html import escape
from pathlib import Path

import uvicorn

from lac_batch.model.errors import UsageError
from lac_batch.sandbox.server import bind_socket
from lac_batch.web.app import PageSettings, create_app
from lac_batch.web.security import Gate
from lac_batch.web.workspace import prune_old_sessions

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

LOOPBACK = "127.0.0.1"


def check_loopback(host: str) -> None:
    """UsageError unless ``host`` is a loopback address: the page is for this machine only."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"{host}: the page serves on this machine's loopback address only (127.0.0.1), "
            "never on a network address."
        )


def listen(port: int, host: str = LOOPBACK) -> socket.socket:
    """The page's listening socket on loopback; UsageError when the port is taken."""
    check_loopback(host)
    try:
        return bind_socket(host, port)
    except OSError as error:
        raise UsageError(
            f"port {port} on {host} cannot be used ({error.strerror or error}); choose another "
            "with --port, or --port 0 for any free one."
        ) from None


def write_redirect_file(folder: Path, url: str) -> Path:
    """A page that sends the browser to ``url``, readable by this user only: the browser is
    opened on this file, so the login token is on no command line (as Jupyter does)."""
    path = folder / f"login-{os.getpid()}.html"
    text = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={escape(url)}">'
        f'<title>lac-batch</title></head><body><a href="{escape(url)}">Open lac-batch</a>'
        "</body></html>"
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
    return path


def serve(
    settings: PageSettings,
    listening: socket.socket,
    *,
    open_browser: bool,
    announce: Callable[[str], None],
) -> None:
    """Serve the page on ``listening`` until Ctrl-C; old session folders are pruned first."""
    port = listening.getsockname()[1]
    prune_old_sessions(settings.sessions_folder)
    gate = Gate(port, lambda _: {})
    app = create_app(settings, gate)
    redirect = write_redirect_file(settings.sessions_folder, gate.login_url)
    gate.redirect_file = redirect
    announce(
        f"The page: {gate.login_url}\n(the link works once; it logs this browser in. Ctrl-C "
        "stops the server, and a run it is sending, as submit's Ctrl-C does.)"
    )
    if open_browser:
        webbrowser.open(redirect.as_uri())
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,  # the login URL carries the token
        proxy_headers=False,
        server_header=False,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=10,
    )
    try:
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        redirect.unlink(missing_ok=True)
