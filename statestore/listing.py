"""Lists as kube-apiserver serves them from etcd: at a revision, in pages, with continue tokens.

A list is read at one resourceVersion: the newest (default), or an older one given with
``resourceVersionMatch=Exact``, rebuilt from the current state by undoing the changes logged
since then. A page of ``limit`` items carries a continue token naming the list's revision and
the last key served, so every page comes from the same snapshot, as with etcd. Once that
revision has been compacted away the token, like an ``Exact`` read, answers 410 Expired and
the client lists again from the start (client-go's pager and kubectl do that themselves).
Items are ordered by (namespace, name), and ``remainingItemCount`` is given when no selector
filters the list.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from statestore.errors import Cause, StatusError, bad_request
from statestore.options import ListOptions
from statestore.resources import ResourceInfo

if TYPE_CHECKING:
    from statestore.store import Store

_TOKEN_VERSION = "meta.k8s.io/v1"


@dataclass
class Page:
    revision: int
    items: list[bytes]
    continue_token: str = ""
    remaining: int | None = None


def _encode(revision: int, namespace: str, name: str) -> str:
    token = {"v": _TOKEN_VERSION, "rv": revision, "start": f"{namespace}/{name}\x00"}
    return base64.urlsafe_b64encode(orjson.dumps(token)).decode().rstrip("=")


def _decode(token: str) -> tuple[int, tuple[str, str]]:
    """The revision and the last (namespace, name) served, from a continue token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        revision = int(data["rv"])
        namespace, _, name = str(data["start"]).rstrip("\x00").partition("/")
        if data.get("v") != _TOKEN_VERSION or revision <= 0:
            raise ValueError("unknown token version")
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise bad_request(
            "continue key is not valid: the token was not issued by this server",
            causes=[Cause("continue", "Invalid value: not a continue token issued here")],
        ) from None
    return revision, (namespace, name)


def _too_old(revision: int, compacted: int, *, continuing: bool) -> StatusError:
    if continuing:
        message = (
            "The provided continue parameter is too old to display a consistent list result. "
            "You can start a new list without the continue parameter."
        )
    else:
        message = f"too old resource version: {revision} ({compacted})"
    return StatusError(410, "Expired", message)


def _order(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = obj["metadata"]
    return metadata.get("namespace", ""), metadata["name"]


async def _snapshot(
    store: Store,
    info: ResourceInfo,
    namespace: str | None,
    revision: int,
    *,
    continuing: bool,
) -> list[tuple[dict[str, Any], bytes]]:
    """The collection as it was at ``revision``: today's objects with later changes undone."""
    prefix = info.key_prefix(namespace if info.namespaced and namespace else None)
    bucket = store.bucket(info.group, info.plural)
    now = store.revision
    state: dict[str, tuple[dict[str, Any], bytes]] = {
        key: (entry.obj, entry.data) for key, entry in bucket.items() if key.startswith(prefix)
    }
    if revision < now:
        events = await store.history(revision, prefix)
        if events is None:
            raise _too_old(revision, store.storage.compacted, continuing=continuing)
        undone: set[str] = set()
        for event in events:
            if event.rv > now or event.key in undone:
                continue  # after the state copied above, or an earlier change already undone
            undone.add(event.key)
            if event.previous is None:
                state.pop(event.key, None)
            else:
                state[event.key] = (event.previous, orjson.dumps(event.previous))
    return list(state.values())


async def page(
    store: Store,
    info: ResourceInfo,
    namespace: str | None,
    options: ListOptions,
    matcher: Callable[[Mapping[str, Any]], bool] | None,
) -> Page:
    """One list response: the whole collection, or the page ``options`` asks for."""
    await store.settled()
    after: tuple[str, str] | None = None
    continuing = bool(options.continue_token)
    if continuing:
        revision, after = _decode(options.continue_token)
    elif options.resource_version_match == "Exact":
        revision = int(options.resource_version)
    else:
        revision = store.revision
    if revision > store.revision:
        raise StatusError(
            504,
            "Timeout",
            f"Too large resource version: {revision}, current: {store.revision}",
        )
    if revision == store.revision and not continuing:
        _, entries = store.list_entries(info, namespace, matcher)
        if not options.limit:
            return Page(revision, [entry.data for entry in entries])
        found = [(entry.obj, entry.data) for entry in entries]
    else:
        found = await _snapshot(store, info, namespace, revision, continuing=continuing)
        if matcher is not None:
            found = [item for item in found if matcher(item[0])]
        found.sort(key=lambda item: _order(item[0]))
    if after is not None:
        found = [item for item in found if _order(item[0]) > after]
    if not options.limit or len(found) <= options.limit:
        return Page(revision, [data for _, data in found])
    served = found[: options.limit]
    last_namespace, last_name = _order(served[-1][0])
    return Page(
        revision,
        [data for _, data in served],
        continue_token=_encode(revision, last_namespace, last_name),
        remaining=None if matcher is not None else len(found) - options.limit,
    )
