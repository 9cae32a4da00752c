"""Writes of the HTTP face: create, update, patch, delete, delete a collection, and reviews.

The body is read and decoded first (a Protobuf body of a built-in kind becomes JSON), then the
request's options (``dryRun``, ``fieldValidation``, ``propagationPolicy``) are checked before
the store is asked; warnings (duplicate keys, unknown fields) go back as ``Warning`` headers.
"""

from __future__ import annotations

import orjson

from statestore import access, options, protobuf, requestbody, reviews
from statestore.authn.user import UserInfo
from statestore.errors import StatusError, bad_request
from statestore.exchanges import Exchange
from statestore.options import Query
from statestore.patching import APPLY_PATCH
from statestore.reads import matcher_for
from statestore.responses import Receive, Send, list_body, respond_object, send_body, send_json
from statestore.routing import Target
from statestore.store import Store

PROTOBUF = "application/vnd.kubernetes.protobuf"


async def write(
    store: Store,
    access_control: access.AccessControl,
    receive: Receive,
    exchange: Exchange,
    *,
    method: str,
    path: str,
    headers: dict[bytes, bytes],
    query: Query,
    target: Target,
    table: bool,
    user: UserInfo,
) -> None:
    send: Send = exchange
    body = await requestbody.read_body(receive, headers)
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
            exchange.request_object = requestbody.parse(body, content_type)
        except StatusError:
            exchange.request_object = None
    dry_run = query.get("dryRun") == "All"
    if query.get("dryRun") not in (None, "All"):
        raise bad_request(f'unsupported dryRun value "{query.get("dryRun")}": use "All"')
    directive = options.field_validation(query.get("fieldValidation"))
    strict = directive == "Strict"
    info = target.info
    if info.extra.get("review"):
        if method != "POST" or target.name is not None:
            raise StatusError(
                405,
                "MethodNotAllowed",
                f"the server does not allow this method on the requested resource: {method} {path}",
            )
        answer = reviews.answer(
            info, target.namespace, requestbody.parse(body, content_type), user, access_control.rbac
        )
        await send_json(send, 201, answer)
        return
    if method == "POST" and target.name is None:
        parsed = requestbody.parse(body, content_type, strict=strict)
        result = await store.create(
            info, target.version, target.namespace, parsed, dry_run=dry_run, strict=strict
        )
        found = requestbody.duplicates(body, content_type, parsed, directive) + result.warnings
        await respond_object(
            send, 201, result.data, target, options.warnings(found, directive), table
        )
    elif method == "PUT" and target.name is not None:
        parsed = requestbody.parse(body, content_type, strict=strict)
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
        await respond_object(
            send,
            200,
            result.data,
            target,
            options.warnings(
                requestbody.duplicates(body, content_type, parsed, directive) + result.warnings,
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
            requestbody.parse(body, "application/json"),
            content_type=content_type,
            subresource=target.subresource,
            dry_run=dry_run,
            strict=strict,
        )
        await respond_object(
            send, 200, result.data, target, options.warnings(result.warnings, directive), table
        )
    elif method == "DELETE" and target.name is not None and target.subresource is None:
        delete_options = requestbody.parse(body, content_type) if body.strip() else {}
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
        await respond_object(
            send, 200, result.data, target, options.warnings(result.warnings, directive), table
        )
    elif method == "DELETE" and target.name is None and "deletecollection" in info.verbs:
        matcher = matcher_for(target, query)
        results = await store.delete_collection(info, target.namespace, matcher, dry_run=dry_run)
        await send_body(send, 200, list_body(target, store.revision, [r.data for r in results]))
    else:
        raise StatusError(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method on the requested resource: {method} {path}",
        )
