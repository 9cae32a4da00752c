"""The HTTP face of the store: a plain ASGI app speaking the Kubernetes REST + watch protocol.

Plain ASGI rather than a framework router: every request of kopf, kubectl and the Python
client goes through here thousands of times a second, and watch streams need direct control
of chunked output and client disconnects.

This module is the entry of every request: lifespan, errors to ``Status``, who is asking
(authentication, impersonation, authorization, audit), then dispatch. The work is beside it:
``routing`` (what a path names), ``reads`` (GET), ``watchrequests`` (watch streams),
``writes`` (POST/PUT/PATCH/DELETE), ``requestbody`` (reading and decoding bodies),
``responses`` (sending and encoding) and ``exchanges`` (the response as it goes out, audited).
"""

from __future__ import annotations

from typing import Any

from statestore import (
    access,
    accessmetrics,
    exchanges,
    options,
    reads,
    requestinfo,
    responses,
    routing,
    watchrequests,
    writes,
)
from statestore.audit import log as audit_log
from statestore.authn.user import Unauthorized
from statestore.errors import StatusError
from statestore.impersonation import impersonate
from statestore.impersonation import requested as impersonation_requested
from statestore.responses import Receive, Scope, Send
from statestore.store import Store
from wws import logconfig

log = logconfig.get(__name__)

_OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})


class ApiServer:
    def __init__(
        self,
        store: Store,
        *,
        access: access.AccessControl,
        address: str,
        auditor: audit_log.Auditor | None = None,
    ) -> None:
        self.store = store
        self.access = access
        self.address = address
        self.auditor = auditor
        self._openapi_cache: dict[str, Any] = {}
        store.on_registry_change.append(self._openapi_cache.clear)

    # ---------------------------------------------------------------- ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        exchange = exchanges.Exchange(send)
        try:
            await self._handle(scope, receive, exchange)
        except StatusError as error:
            exchange.error = error.to_status()
            await responses.send_json(exchange, error.code, exchange.error)
        except Exception as error:
            log.exception("store.request_failed", path=scope.get("path"))
            exchange.error = StatusError(
                500, "InternalError", f"internal error: {error}"
            ).to_status()
            await responses.send_json(exchange, 500, exchange.error)
        finally:
            if exchange.record is not None and self.auditor is not None:
                exchanges.audit_complete(self.auditor, exchange)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.store.start()
                except Exception as error:
                    log.exception("store.start_failed")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.store.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ---------------------------------------------------------------- dispatch

    async def _handle(self, scope: Scope, receive: Receive, exchange: exchanges.Exchange) -> None:
        send: Send = exchange
        path: str = scope["path"]
        method: str = scope["method"]
        headers = {k.lower(): v for k, v in scope["headers"]}
        if path in _OPEN_PATHS:
            await responses.send_body(send, 200, b"ok", content_type=b"text/plain")
            return
        request_info = requestinfo.parse(method, path, scope.get("query_string", b""))
        try:
            user = await self.access.authenticate(headers)
        except Unauthorized as error:
            # kube says only this, whatever the reason (logged, not told).
            log.info("access.unauthorized", path=path, reason=str(error))
            exchanges.audit_begin(self.auditor, scope, exchange, None, request_info)
            raise StatusError(401, "Unauthorized", "Unauthorized") from error
        exchanges.audit_begin(self.auditor, scope, exchange, user, request_info)
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        impersonator = None
        if impersonation_requested(raw_headers):
            impersonator = user
            user = impersonate(user, raw_headers, self.access.allowed)
            if exchange.record is not None:
                exchange.record.event["impersonatedUser"] = user.to_dict()
        try:
            reason = self.access.authorize_request(user, request_info)
        except StatusError:
            if exchange.record is not None:
                exchange.record.annotations["authorization.k8s.io/decision"] = "forbid"
                exchange.record.annotations["authorization.k8s.io/reason"] = ""
            raise
        if exchange.record is not None:
            exchange.record.annotations["authorization.k8s.io/decision"] = "allow"
            exchange.record.annotations["authorization.k8s.io/reason"] = reason
        context = access.RequestContext(
            user=user,
            impersonator=impersonator,
            info=request_info,
            dry_run=b"dryRun=All" in scope.get("query_string", b""),
        )
        exchange.context = context
        access.current.set(context)
        query = options.Query(scope.get("query_string", b""))
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["metrics"]:
            # Authorized above as kube does it: non-resource URL /metrics, verb get.
            await responses.send_body(
                send, 200, accessmetrics.render(), content_type=b"text/plain; version=0.0.4"
            )
            return
        if method == "GET":
            document = routing.static_document(
                self.store.registry, self.address, self._openapi_cache, parts
            )
            if document is not None:
                await responses.send_json(send, 200, document)
                return
        target = routing.resolve(self.store.registry, parts)
        accept = headers.get(b"accept", b"").decode("latin-1")
        table = "as=Table" in accept
        if method == "GET" and target.info.extra.get("review"):
            raise StatusError(
                405,
                "MethodNotAllowed",
                f"the server does not allow this method on the requested resource: GET {path}",
            )
        if method == "GET":
            if target.name is None:
                if query.flag("watch"):
                    await watchrequests.watch(
                        self.store, self.auditor, scope, receive, send, target, query, table
                    )
                else:
                    await reads.list_(self.store, send, target, query, table)
            else:
                await reads.get(self.store, send, target, table)
            return
        await writes.write(
            self.store,
            self.access,
            receive,
            exchange,
            method=method,
            path=path,
            headers=headers,
            query=query,
            target=target,
            table=table,
            user=user,
        )


__all__ = ["ApiServer"]
