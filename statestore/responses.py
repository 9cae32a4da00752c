"""Responses of the HTTP face: the ASGI callables, sending a body, and encoding objects and lists.

Objects are stored as JSON at their storage version; a response renders them at the version the
client asked for (only ``apiVersion`` differs), as a ``Table`` when the client accepts one, and
splices lists together from the stored bytes instead of re-serialising them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from statestore import tables
from statestore.routing import Target

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON = b"application/json"


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


async def send_body(
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


async def send_json(
    send: Send, status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send_body(send, status, dumps(obj), headers=headers)


def render(data: bytes, target: Target) -> bytes:
    """Objects are stored at the storage version; others differ only in apiVersion."""
    info = target.info
    if target.version == info.storage_version.name:
        return data
    obj = orjson.loads(data)
    obj["apiVersion"] = info.api_version(target.version)
    return dumps(obj)


async def respond_object(
    send: Send, status: int, data: bytes, target: Target, warnings: list[str], table: bool
) -> None:
    headers = [(b"warning", f'299 - "{w}"'.encode()) for w in warnings[:20]]
    if table:
        obj = orjson.loads(render(data, target))
        body = dumps(tables.build_table(target.info, target.version, [obj]))
    else:
        body = render(data, target)
    await send_body(send, status, body, headers=headers)


def list_body(
    target: Target,
    revision: int,
    items: list[bytes],
    more: dict[str, Any] | None = None,
) -> bytes:
    info = target.info
    head = dumps(
        {
            "kind": info.list_kind,
            "apiVersion": info.api_version(target.version),
            "metadata": {"resourceVersion": str(revision), **(more or {})},
        }
    )
    rendered = [render(item, target) for item in items]
    # Splice the raw stored JSON in: no re-serialisation of thousands of objects.
    return head[:-1] + b',"items":[' + b",".join(rendered) + b"]}"
