"""kube-apiserver's max-in-flight filter: a bound on requests being served at once.

Reads and writes have their own bound (``--max-requests-inflight``,
``--max-mutating-requests-inflight``); a request over it gets 429 with ``Retry-After`` before
anything else (its token included) is looked at, so a flood costs the store almost nothing.
Watches are long-running and not counted (the connection bound covers them), nor are the
health endpoints, which must answer while the store is busy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from statestore.errors import StatusError
from statestore.limits import LogEvery
from wws import logconfig

log = logconfig.get(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_EXEMPT_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_AFTER_SECONDS = 1


def _long_running(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    if b"watch" not in query:
        return False
    return any(part in (b"watch=true", b"watch=1", b"watch=True") for part in query.split(b"&"))


class InflightLimit:
    def __init__(self, app: App, *, max_readonly: int, max_mutating: int) -> None:
        self.app = app
        self.max_readonly = max_readonly
        self.max_mutating = max_mutating
        self.readonly = 0
        self.mutating = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in _EXEMPT_PATHS
            or (scope["method"] == "GET" and _long_running(scope))
        ):
            await self.app(scope, receive, send)
            return
        mutating = scope["method"] not in _READ_METHODS
        if mutating:
            if self.mutating >= self.max_mutating:
                await _too_many(send, "mutating")
                return
            self.mutating += 1
        else:
            if self.readonly >= self.max_readonly:
                await _too_many(send, "readonly")
                return
            self.readonly += 1
        try:
            await self.app(scope, receive, send)
        finally:
            if mutating:
                self.mutating -= 1
            else:
                self.readonly -= 1


_THROTTLED = {"readonly": LogEvery(), "mutating": LogEvery()}


async def _too_many(send: Send, kind: str) -> None:
    count = _THROTTLED[kind].due()
    if count is not None:
        log.warning("store.request_throttled", kind=kind, requests=count)
    status = StatusError(429, "TooManyRequests", "Too many requests, please try again later.")
    document = status.to_status()
    document["details"] = {"retryAfterSeconds": RETRY_AFTER_SECONDS}
    body = orjson.dumps(document)
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
