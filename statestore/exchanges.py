"""One request's exchange: the response as it goes out, and its audit record.

The response's status and (for a ``RequestResponse`` audit level) its body are kept as they are
sent, with the ``Audit-ID`` header added when the request is audited; the audit record is begun
once the user is known and completed when the response is over.
"""

from __future__ import annotations

from typing import Any

import orjson

from statestore import access, requestinfo
from statestore.audit import log as audit_log
from statestore.responses import Scope, Send


class Exchange:
    """One request's response as it goes out: the status and (for the audit log) the body,
    with the ``Audit-ID`` header added when the request is audited."""

    BODY_LIMIT = 1024 * 1024

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self.body = bytearray()
        self.keep_body = False
        self.record: audit_log.Record | None = None
        self.context: access.RequestContext | None = None
        self.error: dict[str, Any] | None = None
        self.request_object: Any = None

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self.record is not None:
                audit_id = self.record.event["auditID"].encode()
                message = {**message, "headers": [*message["headers"], (b"audit-id", audit_id)]}
        elif (
            message["type"] == "http.response.body"
            and self.keep_body
            and len(self.body) < self.BODY_LIMIT
        ):
            self.body += message.get("body", b"")
        await self._send(message)


def audit_begin(
    auditor: audit_log.Auditor | None,
    scope: Scope,
    exchange: Exchange,
    user: Any,
    request_info: requestinfo.RequestInfo,
) -> None:
    if auditor is None:
        return
    headers = {k.lower(): v for k, v in scope["headers"]}
    query = scope.get("query_string", b"").decode("latin-1")
    client = scope.get("client") or ("", 0)
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
    ips = [ip.strip() for ip in forwarded.split(",") if ip.strip()] + [client[0]]
    exchange.record = auditor.begin(
        user=user,
        impersonator=None,
        info=request_info,
        request_uri=scope["path"] + (f"?{query}" if query else ""),
        source_ips=ips,
        user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
    )
    if exchange.record is not None:
        exchange.keep_body = (
            exchange.record.level == "RequestResponse" and request_info.verb != "watch"
        )


def audit_complete(auditor: audit_log.Auditor | None, exchange: Exchange) -> None:
    record = exchange.record
    assert record is not None and auditor is not None
    if exchange.context is not None:
        record.annotations.update(exchange.context.annotations)
    response_object = None
    if exchange.keep_body and exchange.body and exchange.error is None:
        try:
            response_object = orjson.loads(bytes(exchange.body))
        except orjson.JSONDecodeError:
            response_object = None
    auditor.complete(
        record,
        code=exchange.status or 500,
        status=exchange.error,
        request_object=exchange.request_object,
        response_object=response_object if exchange.error is None else exchange.error,
    )
