"""Reads of the HTTP face: GET of one object and of a list (one page), with selectors.

A GET of an object whose change is not yet broadcast to the watches waits for it
(``store.settled``), so a read is never ahead of the watch streams.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from statestore import listing, options, selectors, tables
from statestore.options import Query
from statestore.responses import Send, list_body, render, respond_object, send_body, send_json
from statestore.routing import Target
from statestore.store import Store

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


async def get(store: Store, send: Send, target: Target, table: bool) -> None:
    assert target.name is not None
    entry = store.get(target.info, target.namespace, target.name)
    if entry.rv > store.revision_broadcast:
        await store.settled(entry.rv)
        entry = store.get(target.info, target.namespace, target.name)
    await respond_object(send, 200, entry.data, target, [], table)


def matcher_for(target: Target, query: Query) -> Callable[[Any], bool] | None:
    labels = selectors.parse_label_selector(query.get("labelSelector"))
    allowed = _SELECTABLE_FIELDS.get(target.info.plural if target.info.builtin else "", _COMMON)
    fields = selectors.parse_field_selector(query.get("fieldSelector"), allowed=allowed)
    return selectors.compile_matcher(labels, fields)


async def list_(store: Store, send: Send, target: Target, query: Query, table: bool) -> None:
    matcher = matcher_for(target, query)
    list_options = options.list_options(query.get)
    page = await listing.page(store, target.info, target.namespace, list_options, matcher)
    more: dict[str, Any] = {}
    if page.continue_token:
        more["continue"] = page.continue_token
    if page.remaining is not None:
        more["remainingItemCount"] = page.remaining
    if table:
        objects = [orjson.loads(render(data, target)) for data in page.items]
        document = tables.build_table(
            target.info, target.version, objects, resource_version=str(page.revision)
        )
        document["metadata"].update(more)
        await send_json(send, 200, document)
        return
    await send_body(send, 200, list_body(target, page.revision, page.items, more))
