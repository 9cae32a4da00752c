"""The HTTP face of the store: a plain ASGI app speaking the Kubernetes REST + watch protocol.

Plain ASGI rather than a framework router: every request of kopf, kubectl and the Python
client goes through here thousands of times a second, and watch streams need direct control
of chunked output and client disconnects.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
import yaml

from statestore import (
    access,
    accessmetrics,
    decoding,
    discovery,
    listing,
    objects,
    openapi,
    options,
    protobuf,
    requestinfo,
    resources,
    reviews,
    selectors,
    tables,
    watching,
)
from statestore.audit import log as audit_log
from statestore.authn.user import Unauthorized
from statestore.errors import Cause, StatusError, bad_request, not_found
from statestore.impersonation import impersonate
from statestore.impersonation import requested as impersonation_requested
from statestore.patching import APPLY_PATCH
from statestore.resources import ResourceInfo
from statestore.store import Store
from wws import logconfig

log = logconfig.get(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY_BYTES = 3 * 1024 * 1024
JSON = b"application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
_OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
# Field selectors each kind accepts (as kube-apiserver); custom resources: the common two.
_COMMON = frozenset({"metadata.name", "metadata.namespace"})
_SELECTABLE_FIELDS: dict[str, frozenset[str]] = {
    "events": _COMMON
    | {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "reason",
        "type",
        "source",
        "reportingComponent",
    },
    "secrets": _COMMON | {"type"},
    "namespaces": _COMMON | {"status.phase"},
}


@dataclass(frozen=True)
class Target:
    """A request path resolved against the registry."""

    info: ResourceInfo
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None


class Query:
    def __init__(self, raw: bytes) -> None:
        self._values = {k: v[-1] for k, v in parse_qs(raw.decode("latin-1")).items()}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name, default)

    def flag(self, name: str) -> bool:
        """A boolean parameter; a value that is not a boolean is a 400 (as in kube)."""
        return options.flag(name, self._values.get(name))


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


class _YamlLoader(yaml.SafeLoader):
    """YAML as kube-apiserver reads it (go-yaml v2 into JSON): timestamps stay strings."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_problem(value: Any, *, budget: int) -> str | None:
    """Why a decoded YAML value cannot be a JSON body, if it cannot: more than ``budget``
    nodes once aliases are expanded, nesting too deep, a non-string key, or a value JSON
    has no form for (binary, set, timestamp tag, infinity, NaN)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return "its aliases expand it far beyond its size"
        if isinstance(item, dict | list) and depth > objects.MAX_DEPTH:
            return f"it nests more than {objects.MAX_DEPTH} levels deep"
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"the mapping key {key!r} is not a string"
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a JSON number"
        elif item is not None and not isinstance(item, str | int | float | bool):
            return f"a value of type {type(item).__name__} ({item!r:.40})"
    return None


class _Exchange:
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
        exchange = _Exchange(send)
        try:
            await self._handle(scope, receive, exchange)
        except StatusError as error:
            exchange.error = error.to_status()
            await self._send_json(exchange, error.code, exchange.error)
        except Exception as error:
            log.exception("store.request_failed", path=scope.get("path"))
            exchange.error = StatusError(
                500, "InternalError", f"internal error: {error}"
            ).to_status()
            await self._send_json(exchange, 500, exchange.error)
        finally:
            if exchange.record is not None and self.auditor is not None:
                self._audit_complete(exchange)

    # ---------------------------------------------------------------- audit

    def _audit_begin(
        self,
        scope: Scope,
        exchange: _Exchange,
        user: Any,
        request_info: requestinfo.RequestInfo,
    ) -> None:
        if self.auditor is None:
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        client = scope.get("client") or ("", 0)
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
        ips = [ip.strip() for ip in forwarded.split(",") if ip.strip()] + [client[0]]
        exchange.record = self.auditor.begin(
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

    def _audit_complete(self, exchange: _Exchange) -> None:
        record = exchange.record
        assert record is not None and self.auditor is not None
        if exchange.context is not None:
            record.annotations.update(exchange.context.annotations)
        response_object = None
        if exchange.keep_body and exchange.body and exchange.error is None:
            try:
                response_object = orjson.loads(bytes(exchange.body))
            except orjson.JSONDecodeError:
                response_object = None
        self.auditor.complete(
            record,
            code=exchange.status or 500,
            status=exchange.error,
            request_object=exchange.request_object,
            response_object=response_object if exchange.error is None else exchange.error,
        )

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

    @staticmethod
    async def _send(
        send: Send,
        status: int,
        body: bytes,
        *,
        content_type: bytes = JSON,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        response_headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ]
        if headers:
            response_headers.extend(headers)
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    async def _send_json(
        self, send: Send, status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        await self._send(send, status, _dumps(obj), headers=headers)

    # ---------------------------------------------------------------- dispatch

    async def _handle(self, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
        send: Send = exchange
        path: str = scope["path"]
        method: str = scope["method"]
        headers = {k.lower(): v for k, v in scope["headers"]}
        if path in _OPEN_PATHS:
            await self._send(send, 200, b"ok", content_type=b"text/plain")
            return
        request_info = requestinfo.parse(method, path, scope.get("query_string", b""))
        try:
            user = await self.access.authenticate(headers)
        except Unauthorized as error:
            # kube says only this, whatever the reason (logged, not told).
            log.info("access.unauthorized", path=path, reason=str(error))
            self._audit_begin(scope, exchange, None, request_info)
            raise StatusError(401, "Unauthorized", "Unauthorized") from error
        self._audit_begin(scope, exchange, user, request_info)
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
        query = Query(scope.get("query_string", b""))
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["metrics"]:
            # Authorized above as kube does it: non-resource URL /metrics, verb get.
            await self._send(
                send, 200, accessmetrics.render(), content_type=b"text/plain; version=0.0.4"
            )
            return
        if method == "GET":
            document = self._static_document(parts)
            if document is not None:
                await self._send_json(send, 200, document)
                return
        target = self._resolve(parts)
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
                    await self._watch(scope, receive, send, target, query, table)
                else:
                    await self._list(send, target, query, table)
            else:
                await self._get(send, target, table)
            return
        body = await self._read_body(receive, headers)
        content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
        content_type = content_type.split(";")[0].strip().lower()
        if body.strip():
            options.check_body_type(content_type, patch=method == "PATCH")
        if content_type == PROTOBUF and body:
            # client-go's typed clients (``kubectl create namespace|secret|configmap``) send
            # built-in kinds as Protobuf; the store decodes those few kinds into JSON.
            body = orjson.dumps(protobuf.decode(body))
            content_type = "application/json"
        record = exchange.record
        if record is not None and record.level in ("Request", "RequestResponse") and body.strip():
            try:
                exchange.request_object = self._parse(body, content_type)
            except StatusError:
                exchange.request_object = None
        dry_run = query.get("dryRun") == "All"
        if query.get("dryRun") not in (None, "All"):
            raise bad_request(f'unsupported dryRun value "{query.get("dryRun")}": use "All"')
        directive = options.field_validation(query.get("fieldValidation"))
        strict = directive == "Strict"
        store = self.store
        info = target.info
        if info.extra.get("review"):
            if method != "POST" or target.name is not None:
                raise StatusError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource: "
                    f"{method} {path}",
                )
            answer = reviews.answer(
                info, target.namespace, self._parse(body, content_type), user, self.access.rbac
            )
            await self._send_json(send, 201, answer)
            return
        if method == "POST" and target.name is None:
            parsed = self._parse(body, content_type, strict=strict)
            result = await store.create(
                info, target.version, target.namespace, parsed, dry_run=dry_run, strict=strict
            )
            found = self._duplicates(body, content_type, parsed, directive) + result.warnings
            await self._respond_object(
                send, 201, result.data, target, options.warnings(found, directive), table
            )
        elif method == "PUT" and target.name is not None:
            parsed = self._parse(body, content_type, strict=strict)
            result = await store.update(
                info,
                target.version,
                target.namespace,
                target.name,
                parsed,
                subresource=target.subresource,
                dry_run=dry_run,
                strict=strict,
            )
            await self._respond_object(
                send,
                200,
                result.data,
                target,
                options.warnings(
                    self._duplicates(body, content_type, parsed, directive) + result.warnings,
                    directive,
                ),
                table,
            )
        elif method == "PATCH" and target.name is not None:
            if content_type == APPLY_PATCH:
                raise StatusError(
                    415,
                    "UnsupportedMediaType",
                    "server-side apply is not supported by the WWS embedded store; use "
                    "client-side apply (kubectl apply without --server-side)",
                )
            result = await store.patch(
                info,
                target.version,
                target.namespace,
                target.name,
                self._parse(body, "application/json"),
                content_type=content_type,
                subresource=target.subresource,
                dry_run=dry_run,
                strict=strict,
            )
            await self._respond_object(
                send, 200, result.data, target, options.warnings(result.warnings, directive), table
            )
        elif method == "DELETE" and target.name is not None and target.subresource is None:
            delete_options = self._parse(body, content_type) if body.strip() else {}
            if not isinstance(delete_options, dict):
                raise bad_request("DeleteOptions must be a JSON object")
            if not isinstance(delete_options.get("preconditions") or {}, dict):
                raise bad_request("DeleteOptions.preconditions must be a JSON object")
            dry_run = dry_run or delete_options.get("dryRun") == ["All"]
            policy = options.propagation_policy(
                delete_options, query.get("propagationPolicy")
            ) or options.legacy_orphan(delete_options)
            result = await store.delete(
                info,
                target.namespace,
                target.name,
                preconditions=delete_options.get("preconditions"),
                dry_run=dry_run,
                propagation=policy,
            )
            await self._respond_object(
                send, 200, result.data, target, options.warnings(result.warnings, directive), table
            )
        elif method == "DELETE" and target.name is None and "deletecollection" in info.verbs:
            matcher = self._matcher(target, query)
            results = await store.delete_collection(
                info, target.namespace, matcher, dry_run=dry_run
            )
            await self._send(
                send, 200, self._list_body(target, store.revision, [r.data for r in results])
            )
        else:
            raise StatusError(
                405,
                "MethodNotAllowed",
                f"the server does not allow this method on the requested resource: {method} {path}",
            )

    async def _read_body(self, receive: Receive, headers: dict[bytes, bytes]) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise StatusError(
                413,
                "RequestEntityTooLarge",
                f"the request body is {int(declared)} bytes; the limit is "
                f"{MAX_BODY_BYTES} bytes (3 MiB)",
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise StatusError(400, "BadRequest", "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise StatusError(
                    413,
                    "RequestEntityTooLarge",
                    f"the request body exceeds the limit of {MAX_BODY_BYTES} bytes",
                )
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    @staticmethod
    def _duplicates(body: bytes, content_type: str, value: Any, directive: str) -> list[str]:
        """Under Warn (the default), keys given twice in a JSON body are warned about."""
        if directive != "Warn" or "json" not in content_type:
            return []
        return decoding.probable_duplicates(body, value)

    @staticmethod
    def _parse(body: bytes, content_type: str, *, strict: bool = False) -> Any:
        if not body.strip():
            raise bad_request("the request body is empty")
        if "yaml" in content_type:
            try:
                value = yaml.load(body, Loader=_YamlLoader)  # a SafeLoader: no Python tags
            except yaml.YAMLError as error:
                raise bad_request(f"the request body is not valid YAML: {error}") from error
            except RecursionError as error:
                raise bad_request("the request body is nested too deeply") from error
            # Aliases may expand a small body enormously ("billion laughs"): the walk is
            # bounded by the body's size, before anything else walks the value.
            problem = _yaml_problem(value, budget=2 * len(body) + 1000)
            if problem is not None:
                raise bad_request(f"the YAML request body has no JSON form: {problem}")
        else:
            try:
                value = orjson.loads(body)
            except orjson.JSONDecodeError as error:
                raise bad_request(f"the request body is not valid JSON: {error}") from error
        problem = decoding.body_problem(value)
        if problem is not None:
            raise bad_request(f"the request body cannot be stored: {problem}")
        if strict:
            duplicates = decoding.duplicate_fields(body, content_type)
            if duplicates:
                raise bad_request(
                    "strict decoding error: " + ", ".join(duplicates),
                    causes=[Cause("", d, "FieldValueDuplicate") for d in duplicates],
                )
        return value

    # ---------------------------------------------------------------- routing

    def _static_document(self, parts: list[str]) -> Any | None:
        registry = self.store.registry
        if parts == ["version"]:
            return discovery.SERVER_VERSION
        if parts == ["api"]:
            return discovery.api_versions(self.address)
        if parts == ["api", "v1"]:
            return discovery.resource_list(registry, "", "v1")
        if parts == ["apis"]:
            return discovery.group_list(registry)
        if len(parts) == 2 and parts[0] == "apis":
            document = discovery.group(registry, parts[1])
            if document is None:
                raise not_found(group="", plural="groups", name=parts[1])
            return document
        if len(parts) == 3 and parts[0] == "apis":
            document = discovery.resource_list(registry, parts[1], parts[2])
            if document is None:
                raise not_found(group=parts[1], plural="versions", name=parts[2])
            return document
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi(parts[2:])
        if parts[:2] == ["openapi", "v2"]:
            raise not_found(group="", plural="openapi", name="v2")
        return None

    def _openapi(self, rest: list[str]) -> Any:
        key = "/".join(rest)
        cached = self._openapi_cache.get(key)
        if cached is not None:
            return cached
        registry = self.store.registry
        if not rest:
            document: Any = openapi.index(registry)
        elif rest == ["api", "v1"]:
            document = openapi.group_version_document(registry, "", "v1")
        elif len(rest) == 3 and rest[0] == "apis":
            document = openapi.group_version_document(registry, rest[1], rest[2])
        else:
            document = None
        if document is None:
            raise not_found(group="", plural="openapi", name=key)
        self._openapi_cache[key] = document
        return document

    def _resolve(self, parts: list[str]) -> Target:
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found(group="", plural="paths", name="/" + "/".join(parts))
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise not_found(group=group, plural="paths", name="/" + "/".join(parts))
        plural = rest[0]
        info = self.store.registry.get(group, plural)
        if info is None or info.version(version) is None:
            resource = f"{plural}.{group}" if group else plural
            raise StatusError(
                404,
                "NotFound",
                f"the server could not find the requested resource ({resource}, version {version})",
                group=group,
                kind=plural,
            )
        if namespace is not None and not info.namespaced:
            raise not_found(group=group, plural=plural, name="/" + "/".join(parts))
        name = rest[1] if len(rest) >= 2 else None
        subresource = rest[2] if len(rest) == 3 else None
        if subresource is not None:
            version_info = info.version(version)
            allowed = {"status"} if version_info and version_info.status_subresource else set()
            if info is resources.NAMESPACES:
                allowed.add("finalize")
            if subresource not in allowed:
                raise not_found(group=group, plural=f"{plural}/{subresource}", name=name or "")
            if subresource == "finalize":
                subresource = None
        if name is not None and info.namespaced and namespace is None:
            raise not_found(group=group, plural=plural, name=name)
        return Target(info, version, namespace, name, subresource)

    # ---------------------------------------------------------------- reads

    def _render(self, data: bytes, target: Target) -> bytes:
        """Objects are stored at the storage version; others differ only in apiVersion."""
        info = target.info
        if target.version == info.storage_version.name:
            return data
        obj = orjson.loads(data)
        obj["apiVersion"] = info.api_version(target.version)
        return _dumps(obj)

    async def _respond_object(
        self, send: Send, status: int, data: bytes, target: Target, warnings: list[str], table: bool
    ) -> None:
        headers = [(b"warning", f'299 - "{w}"'.encode()) for w in warnings[:20]]
        if table:
            obj = orjson.loads(self._render(data, target))
            body = _dumps(tables.build_table(target.info, target.version, [obj]))
        else:
            body = self._render(data, target)
        await self._send(send, status, body, headers=headers)

    async def _get(self, send: Send, target: Target, table: bool) -> None:
        assert target.name is not None
        entry = self.store.get(target.info, target.namespace, target.name)
        if entry.rv > self.store.revision_broadcast:
            await self.store.settled(entry.rv)
            entry = self.store.get(target.info, target.namespace, target.name)
        await self._respond_object(send, 200, entry.data, target, [], table)

    def _matcher(self, target: Target, query: Query) -> Callable[[Any], bool] | None:
        labels = selectors.parse_label_selector(query.get("labelSelector"))
        allowed = _SELECTABLE_FIELDS.get(target.info.plural if target.info.builtin else "", _COMMON)
        fields = selectors.parse_field_selector(query.get("fieldSelector"), allowed=allowed)
        return selectors.compile_matcher(labels, fields)

    def _list_body(
        self,
        target: Target,
        revision: int,
        items: list[bytes],
        more: dict[str, Any] | None = None,
    ) -> bytes:
        info = target.info
        head = _dumps(
            {
                "kind": info.list_kind,
                "apiVersion": info.api_version(target.version),
                "metadata": {"resourceVersion": str(revision), **(more or {})},
            }
        )
        rendered = [self._render(item, target) for item in items]
        # Splice the raw stored JSON in: no re-serialisation of thousands of objects.
        return head[:-1] + b',"items":[' + b",".join(rendered) + b"]}"

    async def _list(self, send: Send, target: Target, query: Query, table: bool) -> None:
        matcher = self._matcher(target, query)
        list_options = options.list_options(query.get)
        page = await listing.page(self.store, target.info, target.namespace, list_options, matcher)
        more: dict[str, Any] = {}
        if page.continue_token:
            more["continue"] = page.continue_token
        if page.remaining is not None:
            more["remainingItemCount"] = page.remaining
        if table:
            objects = [orjson.loads(self._render(data, target)) for data in page.items]
            document = tables.build_table(
                target.info, target.version, objects, resource_version=str(page.revision)
            )
            document["metadata"].update(more)
            await self._send_json(send, 200, document)
            return
        await self._send(send, 200, self._list_body(target, page.revision, page.items, more))

    # ---------------------------------------------------------------- watch

    async def _watch(
        self, scope: Scope, receive: Receive, send: Send, target: Target, query: Query, table: bool
    ) -> None:
        send_initial = query.flag("sendInitialEvents")
        options.resource_version_match(query.get("resourceVersionMatch"))
        if send_initial and query.get("resourceVersionMatch") != "NotOlderThan":
            raise StatusError(
                422,
                "Invalid",
                "sendInitialEvents requires resourceVersionMatch=NotOlderThan",
                causes=[Cause("resourceVersionMatch", "Required value", "FieldValueRequired")],
            )
        timeout_text = query.get("timeoutSeconds")
        try:
            timeout = float(timeout_text) if timeout_text else random.uniform(1800, 3600)
        except ValueError as error:
            raise bad_request(f"invalid timeoutSeconds: {timeout_text}") from error
        if not math.isfinite(timeout) or timeout < 0:
            # NB: nan compares false with everything, and inf never comes: either would be a
            # stream that never ends.
            raise bad_request(
                f"invalid timeoutSeconds: {timeout_text}: must be a finite number of seconds"
            )
        requested = query.get("resourceVersion") or ""
        if requested and not requested.isdigit():
            raise bad_request(f'invalid resourceVersion "{requested}": must be a number')
        info = target.info

        def render(data: bytes) -> bytes:
            return self._render(data, target)

        def render_table(obj: dict[str, Any]) -> dict[str, Any]:
            return tables.table_for_watch(info, target.version, obj)

        stream = watching.WatchStream(
            self.store,
            info=info,
            version=target.version,
            namespace=target.namespace if info.namespaced else None,
            matcher=self._matcher(target, query),
            bookmarks=query.flag("allowWatchBookmarks"),
            send_initial=send_initial,
            timeout=timeout,
            render=render,
            render_table=render_table if table else None,
        )
        if isinstance(send, _Exchange) and send.record is not None and self.auditor is not None:
            self.auditor.started(send.record)
        abort = (scope.get("extensions") or {}).get("wws.abort")
        await stream.run(requested, receive, send, abort=abort)


__all__ = ["ApiServer"]
