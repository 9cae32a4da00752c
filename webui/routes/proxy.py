"""``/w/<namespace>/<name>/``: the workspace's code-server, behind the UI's sign-in.

Only people the API allows ``create`` on ``workspaces/connect`` for that workspace get
through (a SubjectAccessReview per person and workspace, cached for seconds); others get 403.
Nobody types code-server's password: the proxy signs in to code-server once with the
password from the workspace's Secret (read as the UI) and adds code-server's session cookie
to every request it forwards; that cookie never reaches the browser, and the UI's own
session cookie never reaches the workspace.

An open editor WebSocket is asked again every :data:`RECHECK_SECONDS`: when the person may
no longer connect (removed from the organization or the team) or their session ended (sign
out, sign out everywhere, expiry), the socket is closed with 4403, as a new request would
be refused.

Proxied traffic is the workspace's activity: the annotation ``wws.dev/lastActivityTime``
(RFC 3339, UTC) is set at most once a minute per workspace, as the person who used it, for
idle stop to read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiohttp
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from webui import views
from webui.kube import ApiError, Person, path
from webui.sessions import COOKIE
from webui.state import UI, person_of, session_of, ui_of
from webui.templates import render
from wws import logconfig

log = logconfig.get(__name__)

ACTIVITY_ANNOTATION = views.ACTIVITY_ANNOTATION
ACTIVITY_EVERY_SECONDS = 60.0
CODE_SERVER_COOKIE = "code-server-session"
RECHECK_SECONDS = 2.0
"""How often an open editor socket asks again whether its person may still connect."""
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "cookie",
    "authorization",
}


class Upstreams:
    """code-server sign-ins and activity marks, per workspace (by UID)."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.cookies: dict[str, str] = {}
        self.activity: dict[str, float] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def client(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def upstreams_of(ui: UI) -> Upstreams:
    found = getattr(ui, "upstreams", None)
    if found is None:
        found = Upstreams()
        ui.upstreams = found  # type: ignore[attr-defined]
    return found


async def _target(
    ui: UI, person: Person, namespace: str, name: str
) -> tuple[dict[str, Any] | None, Response | None]:
    """The workspace when the person may connect; else the page to answer with."""
    allowed = await ui.api.may_connect(person, namespace, name)
    if not allowed:
        log.info("webui.proxy_refused", namespace=namespace, name=name, login=person.login)
        return None, None
    obj = ui.mirror.objects.get((namespace, name))
    return obj, None


def _upstream_base(obj: dict[str, Any]) -> str | None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    url = (status.get("endpoints") or {}).get("codeServer")
    if not spec.get("running", True) or not url or status.get("phase") != "Running":
        return None
    return str(url).rstrip("/")


async def _password(ui: UI, obj: dict[str, Any]) -> str | None:
    ref = ((obj.get("status") or {}).get("endpoints") or {}).get("codeServerPasswordSecretRef")
    if not ref:
        return None
    namespace = obj["metadata"]["namespace"]
    try:
        secret = await ui.kube.request(
            "GET", path("secrets", namespace=namespace, name=ref["name"], group=""), person=None
        )
    except ApiError as error:
        log.warning("webui.proxy_no_password", namespace=namespace, status=error.status)
        return None
    value = (secret.get("data") or {}).get(ref.get("key", "password"))
    return base64.b64decode(value).decode() if value else None


async def _code_server_cookie(ui: UI, obj: dict[str, Any], base: str, *, fresh: bool) -> str | None:
    upstreams = upstreams_of(ui)
    uid = obj["metadata"]["uid"]
    if not fresh and uid in upstreams.cookies:
        return upstreams.cookies[uid]
    password = await _password(ui, obj)
    if password is None:
        return None
    async with upstreams.client().post(
        f"{base}/login", data={"password": password}, allow_redirects=False
    ) as answer:
        morsel = answer.cookies.get(CODE_SERVER_COOKIE)
        if morsel is None:
            log.warning(
                "webui.proxy_login_failed",
                namespace=obj["metadata"]["namespace"],
                name=obj["metadata"]["name"],
                status=answer.status,
            )
            return None
        upstreams.cookies[uid] = morsel.value
        return morsel.value


def _forward_cookies(raw: str | None, code_server: str | None) -> str:
    kept = []
    for part in (raw or "").split(";"):
        name = part.split("=", 1)[0].strip()
        if name and name not in (COOKIE, CODE_SERVER_COOKIE):
            kept.append(part.strip())
    if code_server:
        kept.append(f"{CODE_SERVER_COOKIE}={code_server}")
    return "; ".join(kept)


def _note_activity(ui: UI, person: Person, obj: dict[str, Any]) -> None:
    """Mark the workspace used, unless that was done less than a minute ago."""
    upstreams = upstreams_of(ui)
    uid = obj["metadata"]["uid"]
    now = time.monotonic()
    if now - upstreams.activity.get(uid, 0.0) < ACTIVITY_EVERY_SECONDS:
        return
    upstreams.activity[uid] = now
    upstreams.spawn(_mark_activity(ui, person, obj))


async def _mark_activity(ui: UI, person: Person, obj: dict[str, Any]) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = obj["metadata"]
    try:
        # NB: as the person: whoever may connect may also mark their use (a metadata-only
        # change, which the workspace policies allow the owner, the team and managers).
        await ui.api.call(
            person,
            "PATCH",
            path("workspaces", namespace=metadata["namespace"], name=metadata["name"]),
            body={"metadata": {"annotations": {ACTIVITY_ANNOTATION: stamp}}},
            content_type="application/merge-patch+json",
        )
    except ApiError as error:
        log.warning(
            "webui.activity_not_recorded",
            namespace=metadata["namespace"],
            name=metadata["name"],
            status=error.status,
        )


async def http_proxy(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    namespace, name = request.path_params["namespace"], request.path_params["name"]
    obj, _ = await _target(ui, person, namespace, name)
    if obj is None:
        allowed_but_missing = await ui.api.may_connect(person, namespace, name)
        if allowed_but_missing:
            return render(
                request, "message.html", {"message": "No such workspace.", "status": 404}, 404
            )
        return render(
            request,
            "message.html",
            {"message": "You may not connect to this workspace.", "status": 403},
            403,
        )
    base = _upstream_base(obj)
    if base is None:
        may_start = await ui.api.dry_run(
            person,
            "PATCH",
            path("workspaces", namespace=namespace, name=name),
            body={"spec": {"running": True}},
        )
        if may_start and views.held_idle(obj):
            # NB: opening the editor link of a workspace stopped for idleness wakes it.
            with contextlib.suppress(ApiError):
                await ui.api.call(
                    person,
                    "PATCH",
                    path("workspaces", namespace=namespace, name=name),
                    body=views.wake_patch(),
                    content_type="application/merge-patch+json",
                )
                log.info(
                    "webui.workspace_woken", namespace=namespace, name=name, login=person.login
                )
        return render(
            request,
            "stopped.html",
            {
                "namespace": namespace,
                "name": name,
                "phase": (obj.get("status") or {}).get("phase") or "Pending",
                "may_start": may_start,
                "running": (obj.get("spec") or {}).get("running", True)
                and not views.held_idle(obj),
            },
            503,
        )
    rest = request.path_params.get("rest", "")
    url = f"{base}/{rest}"
    if request.url.query:
        url += "?" + request.url.query
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
    headers.append(("X-Forwarded-Host", request.headers.get("host", "")))
    headers.append(("X-Forwarded-Proto", request.url.scheme))
    body = await request.body()
    client = upstreams_of(ui).client()
    for attempt in (1, 2):
        cookie = await _code_server_cookie(ui, obj, base, fresh=attempt == 2)
        sent = [*headers, ("Cookie", _forward_cookies(request.headers.get("cookie"), cookie))]
        upstream = await client.request(
            request.method, url, headers=sent, data=body or None, allow_redirects=False
        )
        location = upstream.headers.get("location", "")
        if attempt == 1 and upstream.status in (302, 303) and "login" in location:
            upstream.release()
            continue
        break
    _note_activity(ui, person, obj)
    response_headers = [
        (k, v)
        for k, v in upstream.headers.items()
        if k.lower() not in HOP_BY_HOP and k.lower() != "set-cookie"
    ]
    for value in upstream.headers.getall("set-cookie", []):
        if not value.startswith(CODE_SERVER_COOKIE + "="):
            response_headers.append(("set-cookie", value))

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.content.iter_any():
                yield chunk
        finally:
            upstream.release()

    response = StreamingResponse(stream(), status_code=upstream.status)
    response.raw_headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers
    ]
    if "content-length" in upstream.headers and request.method != "HEAD":
        response.raw_headers.append(
            (b"content-length", upstream.headers["content-length"].encode())
        )
    return response


async def websocket_proxy(websocket: WebSocket) -> None:
    ui = ui_of(websocket)
    person = person_of(websocket)
    namespace, name = websocket.path_params["namespace"], websocket.path_params["name"]
    obj, _ = await _target(ui, person, namespace, name)
    base = _upstream_base(obj) if obj is not None else None
    if obj is None or base is None:
        await websocket.close(code=4403)
        return
    cookie = await _code_server_cookie(ui, obj, base, fresh=False)
    rest = websocket.path_params.get("rest", "")
    url = f"{base.replace('http', 'ws', 1)}/{rest}"
    if websocket.url.query:
        url += "?" + websocket.url.query
    headers = {
        "Cookie": _forward_cookies(websocket.headers.get("cookie"), cookie),
        "X-Forwarded-Host": websocket.headers.get("host", ""),
        "Origin": websocket.headers.get("origin", ""),
    }
    protocols = [
        p.strip()
        for p in websocket.headers.get("sec-websocket-protocol", "").split(",")
        if p.strip()
    ]
    try:
        upstream = (
            await upstreams_of(ui)
            .client()
            .ws_connect(url, headers=headers, protocols=protocols, autoping=True, max_msg_size=0)
        )
    except aiohttp.ClientError as error:
        log.warning("webui.proxy_ws_failed", namespace=namespace, name=name, error=str(error))
        await websocket.close(code=1011)
        return
    await websocket.accept(subprotocol=upstream.protocol)
    _note_activity(ui, person, obj)

    async def browser_to_upstream() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    await upstream.send_bytes(message["bytes"])
                elif message.get("text") is not None:
                    await upstream.send_str(message["text"])
        except WebSocketDisconnect:
            pass
        finally:
            await upstream.close()

    async def upstream_to_browser() -> None:
        # NB: the browser may be gone at any send; that ends this direction quietly.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            async for message in upstream:
                if message.type == aiohttp.WSMsgType.BINARY:
                    await websocket.send_bytes(message.data)
                elif message.type == aiohttp.WSMsgType.TEXT:
                    await websocket.send_text(message.data)
                else:
                    break
            await websocket.close()

    async def still_allowed() -> None:
        """Returns once the person may no longer use this socket."""
        session_id = session_of(websocket).id
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            # NB: the open editor is use of the session (idle limit); the absolute limit,
            # sign-out and sign-out-everywhere still end it.
            if ui.sessions.get(session_id) is None:
                break
            try:
                allowed = await ui.api.may_connect(person, namespace, name)
            except ApiError:
                continue  # NB: an API hiccup is no revocation; asked again next time
            if not allowed:
                break
        log.info("webui.proxy_socket_revoked", namespace=namespace, name=name, login=person.login)

    revoked = asyncio.create_task(still_allowed())
    tasks = [
        asyncio.create_task(browser_to_upstream()),
        asyncio.create_task(upstream_to_browser()),
        revoked,
    ]
    _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    with contextlib.suppress(Exception):
        await upstream.close()
    if revoked.done() and not revoked.cancelled():
        with contextlib.suppress(Exception):
            await websocket.close(code=4403)


routes = [
    Route(
        "/w/{namespace}/{name}/{rest:path}",
        http_proxy,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    ),
    WebSocketRoute("/w/{namespace}/{name}/{rest:path}", websocket_proxy),
]
