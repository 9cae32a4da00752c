"""The door of every request: session, sign-in, CSRF and membership, in one place.

A pure ASGI middleware, so it guards pages, forms, the event stream, the editor proxy and
its WebSockets alike. Only the paths in :data:`PUBLIC` are served to anyone.

- No session, an expired one, or a cookie naming no session: pages redirect to ``/login``,
  everything else is 401; a WebSocket is closed with 4401.
- A state-changing request (not GET/HEAD/OPTIONS) must carry the session's CSRF token, in
  the ``X-CSRF-Token`` header or the form field ``csrf``; otherwise 403 and nothing is done.
  The editor proxy (``/w/``) is exempt: it forwards the editor's own requests, and the
  session cookie is ``SameSite=Lax`` so another site's form never carries it.
- A person who is no longer in any organization (and has no pending invitation) is signed
  out at this request.
"""

from __future__ import annotations

import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webui.sessions import COOKIE, Session
from webui.state import UI
from wws import logconfig

log = logconfig.get(__name__)

PUBLIC = (
    "/login",
    "/login/github",
    "/auth/callback",
    "/bootstrap",
    "/healthz",
    "/metrics",
    "/.well-known/openid-configuration",
    "/openid/v1/jwks",
)
PUBLIC_PREFIXES = ("/static/",)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MEMBERSHIP_CACHE_SECONDS = 2.0
MAX_FORM_BYTES = 1 << 20

REQUESTS = Counter(
    "wws_webui_requests_total", "HTTP requests answered by the web UI", ["method", "code"]
)
SECONDS = Histogram(
    "wws_webui_request_seconds",
    "Time to the first byte of the web UI's answers (editor proxy and event stream included)",
)


def is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def session_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            cookie = SimpleCookie()
            try:
                cookie.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header names no session
                return None
            if COOKIE in cookie:
                return cookie[COOKIE].value
    return None


def header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


class Guard:
    def __init__(self, app: ASGIApp, ui: UI) -> None:
        self.app = app
        self.ui = ui
        self._members: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            started = time.perf_counter()
            method = str(scope["method"])

            async def counted(message: Message) -> None:
                if message["type"] == "http.response.start":
                    SECONDS.observe(time.perf_counter() - started)
                    REQUESTS.labels(method, str(message["status"])).inc()
                await send(message)

            await self._guard(scope, receive, counted)
            return
        await self._guard(scope, receive, send)

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        session = self.ui.sessions.get(session_id(scope))
        scope["wws.session"] = session
        # authlib keeps the OAuth state in request.session: the session's scratch space.
        scope["session"] = session.data if session is not None else {}
        if is_public(path):
            await self.app(scope, receive, send)
            return
        if session is None or session.person is None:
            await self._refuse_unauthenticated(scope, receive, send)
            return
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and not path.startswith("/w/")
        ):
            ok, receive = await self._check_csrf(scope, receive, session)
            if not ok:
                log.info("webui.csrf_refused", path=path, login=session.person.login)
                await _page(
                    send,
                    403,
                    "This request was refused: its form is out of date "
                    "or was not sent by WWS. Reload the page and try again.",
                )
                return
        if not await self._still_member(session):
            self.ui.sessions.end(session.id)
            log.info("webui.not_member", login=session.person.login)
            await _page(
                send,
                403,
                "You are no longer a member of any organization. "
                "Ask an organization owner to invite you.",
            )
            return
        await self.app(scope, receive, send)

    async def _refuse_unauthenticated(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 4401})
            return
        accept = header(scope, b"accept") or ""
        if scope["method"] == "GET" and "text/html" in accept and not header(scope, b"hx-request"):
            target = scope["path"] + (
                "?" + scope["query_string"].decode() if scope["query_string"] else ""
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", f"/login?next={quote(target)}".encode())],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await _page(send, 401, "Sign in first.")

    async def _check_csrf(
        self, scope: Scope, receive: Receive, session: Session
    ) -> tuple[bool, Receive]:
        token = header(scope, b"x-csrf-token")
        if token is not None:
            return session.csrf_ok(token), receive
        content_type = header(scope, b"content-type") or ""
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return False, receive
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                return False, receive
            if not message.get("more_body"):
                break
        fields = parse_qs(body.decode("utf-8", "replace"))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return session.csrf_ok((fields.get("csrf") or [None])[0]), replay

    async def _still_member(self, session: Session) -> bool:
        person = session.person
        assert person is not None
        if person.bootstrap:
            return True
        checked = self._members.get(person.login)
        if checked is not None and time.monotonic() - checked < MEMBERSHIP_CACHE_SECONDS:
            return True
        member = bool(await self.ui.organizations_of(person)) or bool(
            await self.ui.invitations_for(person)
        )
        if member:
            self._members[person.login] = time.monotonic()
        return member


async def _page(send: Send, status: int, message: str) -> None:
    from webui.templates import render_bytes

    body = render_bytes("message.html", {"title": "WWS", "message": message, "status": status})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
