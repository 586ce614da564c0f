"""Dropping a connection without sending a single byte of response.

An ASGI application cannot close its client's socket: the ASGI interface only lets it send
response messages, and uvicorn answers 500 for an application that returns without responding.
Only the server holds the socket. So the sandbox runs uvicorn with its own HTTP protocol class,
:class:`DroppableH11Protocol`, passed as ``uvicorn.Config(http=...)`` (the documented way to
choose a protocol class). It is uvicorn's h11 protocol that, for each connection, adds an ASGI
scope extension :data:`DROP_EXTENSION` whose ``"drop"`` callable closes that connection's asyncio
transport. The scope reaches the endpoint unchanged through Starlette; the other way in, the
private ``transport`` of the uvicorn object behind the ``send`` callable, does not, because
Starlette wraps ``send`` before the endpoint sees it.

:class:`ConnectionDrop` is what an endpoint returns to use it: it calls ``drop`` and then waits
for the server's ``http.disconnect``. Closing the transport makes asyncio call uvicorn's
``connection_lost``, which marks the request as disconnected and wakes ``receive``; because the
application returns only after that, uvicorn sees a disconnected client rather than an application
that forgot to respond, and neither writes a 500 nor logs an error.

``transport.close()`` (not ``abort()``) is used after the whole body has been read, so the client
gets an orderly end of stream with no response bytes. httpx's default transport then raises
``httpx.RemoteProtocolError`` ("Server disconnected without sending a response"); it never sees
a status code. The tests in ``tests/test_sandbox_faults.py`` prove this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    # uvicorn's own names for what its protocol hands the application; typing only.
    from starlette.types import Receive, Scope, Send
    from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable
    from uvicorn._types import Scope as UvicornScope

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

DROP_EXTENSION = "lac_batch.drop_connection"
"""Name of the scope extension; its ``"drop"`` entry closes the connection unanswered."""


class _OfferDrop:
    """The application, called with the drop extension of one connection in every scope."""

    __slots__ = ("_app", "_drop")

    def __init__(self, app: ASGI3Application, drop: Callable[[], None]) -> None:
        self._app = app
        self._drop = drop

    async def __call__(
        self, scope: UvicornScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http":
            scope.setdefault("extensions", {})[DROP_EXTENSION] = {"drop": self._drop}
        await self._app(scope, receive, send)


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, offering each request a way to drop its connection unanswered."""

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self.app = _OfferDrop(self.app, transport.close)


class ConnectionDrop:
    """An endpoint's answer that closes the connection instead of sending a response.

    Needs the server to run :class:`DroppableH11Protocol`; anything else is a RuntimeError.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extension = scope.get("extensions", {}).get(DROP_EXTENSION)
        if extension is None:
            raise RuntimeError("ConnectionDrop needs uvicorn running DroppableH11Protocol")
        extension["drop"]()
        while (await receive())["type"] != "http.disconnect":
            pass
