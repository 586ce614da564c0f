"""Who may use the page: a one-time login token, a session cookie, and checks on every request.

- The only way in is the login link with the one-time token the server printed (and wrote to a
  private redirect file for the browser); it is exchanged at once for an HttpOnly,
  SameSite=Strict session cookie and a redirect to ``/``, so the token is in no later URL.
- Every request must carry the cookie (static files too), and name the server's own loopback
  address and port in its ``Host`` header (a rebound DNS name is refused).
- A request that changes anything must also come from the page's own origin (``Origin``) and
  carry the session's CSRF token (``X-CSRF-Token``, which htmx sends from the page).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lac_batch.model.wording import naming
from lac_batch.web.wording import page_name

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

COOKIE = "lac_batch_session"
CSRF_HEADER = "x-csrf-token"
LOGIN_PATH = "/login"
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


@dataclass
class Session:
    id: str
    csrf: str
    state: dict[str, Any] = field(default_factory=dict)
    """What the page keeps for the session (its files, the open sheet)."""


class Gate:
    """The login token and the sessions of one server."""

    def __init__(self, port: int, new_session: Callable[[str], dict[str, Any]]) -> None:
        self.port = port
        self.token: str | None = secrets.token_urlsafe(32)
        self.sessions: dict[str, Session] = {}
        self._new_session = new_session
        self.redirect_file: Path | None = None

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})

    @property
    def login_url(self) -> str:
        assert self.token is not None
        return f"http://127.0.0.1:{self.port}{LOGIN_PATH}?token={self.token}"

    def log_in(self, offered: str) -> Session | None:
        """A new session for the right token, once; None otherwise."""
        if self.token is None or not secrets.compare_digest(offered, self.token):
            return None
        self.token = None
        if self.redirect_file is not None:
            self.redirect_file.unlink(missing_ok=True)
        session_id = secrets.token_urlsafe(32)
        session = Session(session_id, secrets.token_urlsafe(32), self._new_session(session_id))
        self.sessions[session_id] = session
        return session

    def session_of(self, headers: Headers) -> Session | None:
        cookie = _cookie(headers.get("cookie", ""), COOKIE)
        return self.sessions.get(cookie) if cookie else None


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _refused(status: HTTPStatus, text: str) -> Response:
    return PlainTextResponse(f"{text}\n", status_code=status)


class Guard:
    """ASGI middleware: the checks of this module's docstring, before any route runs."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        response = self._check(scope)
        if response is not None:
            await response(scope, receive, send_with_headers)
            return
        with naming(page_name):
            await self.app(scope, receive, send_with_headers)

    def _check(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if headers.get("host", "") not in self.gate.hosts:
            return _refused(
                HTTPStatus.FORBIDDEN, "This server answers only as 127.0.0.1 or localhost."
            )
        if scope["path"] == LOGIN_PATH and scope["method"] == "GET":
            token = QueryParams(scope.get("query_string", b"").decode("latin-1")).get("token", "")
            session = self.gate.log_in(token)
            if session is None:
                return _refused(
                    HTTPStatus.FORBIDDEN,
                    "This login link has been used or is wrong. Open the page in the browser "
                    "that logged in, or start lac-batch ui again for a new link.",
                )
            response = RedirectResponse("/", status_code=HTTPStatus.SEE_OTHER)
            response.set_cookie(COOKIE, session.id, httponly=True, samesite="strict", path="/")
            return response
        session = self.gate.session_of(headers)
        if session is None:
            return _refused(
                HTTPStatus.FORBIDDEN,
                "Not logged in: open the link lac-batch ui printed when it started.",
            )
        if scope["method"] not in _SAFE_METHODS:
            origins = {f"http://{host}" for host in self.gate.hosts}
            if headers.get("origin", "") not in origins:
                return _refused(HTTPStatus.FORBIDDEN, "Refused: the request is not from this page.")
            if not secrets.compare_digest(headers.get(CSRF_HEADER, ""), session.csrf):
                return _refused(HTTPStatus.FORBIDDEN, "Refused: the page's CSRF token is missing.")
        scope.setdefault("state", {})["session"] = session
        return None
