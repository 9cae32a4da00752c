"""Connection-level limits, enforced before a request reaches the app (and its token check).

uvicorn's httptools protocol holds a request head of any size in memory, has no deadline for
a head or a body that trickles in, and keeps an idle connection open until the client goes.
This subclass adds what Go's ``net/http`` gives kube-apiserver: a cap on the request head
(431), deadlines for the head and the body (408, then the connection is closed), and a bound
on open connections (more are closed at once). It also hands the app a way to abort its
connection (``scope["extensions"]["wws.abort"]``): a watch whose client stopped reading must
not hold the connection, nor the bytes queued for it, once the stream is over.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from statestore.errors import StatusError
from statestore.limits import Limits, LogEvery
from wws import logconfig

log = logconfig.get(__name__)

_REFUSED = LogEvery()
_CUT_OFF = LogEvery()
#: Grace for a refusal to reach the client before the connection is cut.
_LINGER_SECONDS = 2.0


def _response(code: int, reason: str, message: str) -> bytes:
    body = orjson.dumps(StatusError(code, reason, message).to_status())
    phrase = {408: "Request Timeout", 431: "Request Header Fields Too Large"}[code]
    return (
        f"HTTP/1.1 {code} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class LimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of :class:`Limits`."""

    limits: Limits = Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._reading_head = True
        self._refused = False
        if len(self.server_state.connections) >= self.limits.max_connections:
            # NB: set before aborting, so that connection_lost finds a transport to close.
            self.transport = transport
            self._refused = True
            count = _REFUSED.due()
            if count is not None:
                log.warning("store.connection_refused", reason="TooManyConnections", count=count)
            transport.abort()
            return
        super().connection_made(transport)
        self._arm(self.limits.header_timeout, "head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(
                431,
                "RequestHeaderFieldsTooLarge",
                f"the request head exceeds {self.limits.max_header_bytes} bytes",
            )

    # ------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the first request's clock runs from the connection
            self._arm(self.limits.header_timeout, "head")

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._arm(self.limits.body_timeout, "body")
        super().on_headers_complete()
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})  # type: ignore[typeddict-item, assignment]
        extensions["wws.abort"] = self.transport.abort

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    # ------------------------------------------------------------ deadlines

    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        if phase == "head" and self._head_bytes == 0 and self.cycle is None:
            # An idle new connection: nothing to answer, nothing to tell.
            self.transport.abort()
            return
        seconds = self.limits.header_timeout if phase == "head" else self.limits.body_timeout
        self._refuse(
            408,
            "Timeout",
            f"the request {'head' if phase == 'head' else 'body'} did not arrive within "
            f"{seconds:g} seconds",
        )

    def _refuse(self, code: int, reason: str, message: str) -> None:
        self._refused = True
        self._disarm()
        count = _CUT_OFF.due()
        if count is not None:
            log.warning("store.request_refused", code=code, reason=reason, count=count)
        transport = self.transport
        if self.cycle is not None and not self.cycle.response_complete:
            # The app is reading this request's body: it sees the client go away.
            transport.abort()
            return
        transport.write(_response(code, reason, message))
        transport.close()
        # A client that does not read its refusal does not keep the connection either.
        self.loop.call_later(_LINGER_SECONDS, transport.abort)


def protocol_class(limits: Limits) -> type[LimitedProtocol]:
    """The protocol class for uvicorn's ``http`` setting, bound to ``limits``."""
    return type("LimitedProtocol", (LimitedProtocol,), {"limits": limits})
