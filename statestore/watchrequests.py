"""Watch requests of the HTTP face: a ``?watch=true`` GET checked and served as a stream.

The request's options (``sendInitialEvents``, ``timeoutSeconds``, ``resourceVersion``, ...) are
refused with a ``Status`` before the stream starts, as kube-apiserver does; the stream itself
(chunked events, bookmarks, disconnects) is ``watching.WatchStream``.
"""

from __future__ import annotations

import math
import random
from typing import Any

from statestore import options, tables, watching
from statestore.audit import log as audit_log
from statestore.errors import Cause, StatusError, bad_request
from statestore.exchanges import Exchange
from statestore.options import Query
from statestore.reads import matcher_for
from statestore.responses import Receive, Scope, Send, render
from statestore.routing import Target
from statestore.store import Store


async def watch(
    store: Store,
    auditor: audit_log.Auditor | None,
    scope: Scope,
    receive: Receive,
    send: Send,
    target: Target,
    query: Query,
    table: bool,
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

    def render_object(data: bytes) -> bytes:
        return render(data, target)

    def render_table(obj: dict[str, Any]) -> dict[str, Any]:
        return tables.table_for_watch(info, target.version, obj)

    stream = watching.WatchStream(
        store,
        info=info,
        version=target.version,
        namespace=target.namespace if info.namespaced else None,
        matcher=matcher_for(target, query),
        bookmarks=query.flag("allowWatchBookmarks"),
        send_initial=send_initial,
        timeout=timeout,
        render=render_object,
        render_table=render_table if table else None,
    )
    if isinstance(send, Exchange) and send.record is not None and auditor is not None:
        auditor.started(send.record)
    abort = (scope.get("extensions") or {}).get("wws.abort")
    await stream.run(requested, receive, send, abort=abort)
