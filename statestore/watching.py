"""One watch stream: initial state or backlog, then live events, bookmarks and expiry.

Ordering guarantee: the watcher's inbox is registered *before* the backlog is read, and any
event at or below the last revision sent is skipped, so an event is never lost between the
backlog and the live stream, nor sent twice.

Bounds: ``timeoutSeconds`` is a deadline for the whole stream, a blocked write included; a
client whose inbox overflows (it does not read) is cut off. Either way, when the last write
cannot be made at once the connection is aborted (``wws.abort``, from the protocol), so
nothing stays queued for a client that does not read.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from statestore.errors import StatusError
from statestore.resources import ResourceInfo
from statestore.store import ADDED, DELETED, Event, Store, Watcher, event_name
from wws import logconfig

log = logconfig.get(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: kopf reconnects after 70 s of silence and the design asks for < 60 s; 20 s leaves room.
#: WWS_STORE_BOOKMARK_INTERVAL (seconds) overrides it, so that tests need not wait 20 s.
BOOKMARK_INTERVAL = float(os.environ.get("WWS_STORE_BOOKMARK_INTERVAL") or 20.0)
_TIMED_OUT = object()
#: How long the end of a stream may wait for a client to take it before it is cut off.
_CLOSE_GRACE_SECONDS = 1.0


class WatchStream:
    def __init__(
        self,
        store: Store,
        *,
        info: ResourceInfo,
        version: str,
        namespace: str | None,
        matcher: Callable[[Mapping[str, Any]], bool] | None,
        bookmarks: bool,
        send_initial: bool,
        timeout: float,
        render: Callable[[bytes], bytes],
        render_table: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        bookmark_interval: float = BOOKMARK_INTERVAL,
    ) -> None:
        self.store = store
        self.info = info
        self.version = version
        self.matcher = matcher
        self.bookmarks = bookmarks
        self.send_initial = send_initial
        self.timeout = timeout
        self.render = render
        self.render_table = render_table
        self.bookmark_interval = bookmark_interval
        self.prefix = info.key_prefix(namespace)
        self.namespace = namespace
        self.last_rv = 0
        self._send: Send | None = None
        self._disconnected = asyncio.Event()

    async def run(
        self, requested: str, receive: Receive, send: Send, *, abort: Callable[[], None] | None
    ) -> None:
        self._send = send
        watcher = self.store.subscribe(self.prefix)
        task = asyncio.current_task()
        assert task is not None
        overflowed = False

        def on_overflow() -> None:
            nonlocal overflowed
            overflowed = True
            task.cancel()

        watcher.on_overflow = on_overflow
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-cache, private"),
                ],
            }
        )
        listener = asyncio.create_task(self._wait_disconnect(receive))
        cut_off = False
        try:
            async with asyncio.timeout(self.timeout):
                await self._stream(watcher, requested)
        except OSError:
            pass  # the client went away mid-write
        except TimeoutError:
            pass  # timeoutSeconds: the end of this stream, even in the middle of a write
        except asyncio.CancelledError:
            if not overflowed or task.uncancel() > 0:
                raise
            cut_off = True
            log.warning(
                "store.watch_closed",
                reason="client too slow",
                resource=self.info.group_resource,
                namespace=self.namespace,
                queued=watcher.queue.qsize(),
            )
        finally:
            self.store.unsubscribe(watcher)
            listener.cancel()
        if self._disconnected.is_set():
            return  # there is no one left to tell
        if not cut_off:
            try:
                async with asyncio.timeout(_CLOSE_GRACE_SECONDS):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            except (TimeoutError, OSError):
                pass
        if abort is not None:
            abort()

    async def _wait_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._disconnected.set()

    async def _emit(self, chunk: bytes) -> None:
        assert self._send is not None
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    def _line(self, event_type: str, data: bytes) -> bytes:
        if self.render_table is not None:
            row = self.render_table(orjson.loads(self.render(data)))
            return orjson.dumps({"type": event_type, "object": row}) + b"\n"
        return b'{"type":"' + event_type.encode() + b'","object":' + self.render(data) + b"}\n"

    def _bookmark(self, revision: int, *, initial_end: bool = False) -> bytes:
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {
            "kind": self.info.kind,
            "apiVersion": self.info.api_version(self.version),
            "metadata": metadata,
        }
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    def _translate(self, event: Event) -> str | None:
        """What a filtered watcher sees: entering the selection is ADDED, leaving is DELETED."""
        matcher = self.matcher
        if matcher is None:
            return event_name(event.type)
        if event.type == DELETED:
            return "DELETED" if matcher(event.obj) else None
        now_matches = matcher(event.obj)
        if event.type == ADDED:
            return "ADDED" if now_matches else None
        before = event.previous is not None and matcher(event.previous)
        if now_matches:
            return "MODIFIED" if before or event.previous is None else "ADDED"
        return "DELETED" if before else None

    async def _stream(self, watcher: Watcher, requested: str) -> None:
        store = self.store
        if not requested or requested == "0" or self.send_initial:
            await store.settled()
            revision, entries = store.list_entries(self.info, self.namespace, self.matcher)
            for entry in entries:
                await self._emit(self._line("ADDED", entry.data))
            self.last_rv = revision
            if self.send_initial:
                await self._emit(self._bookmark(revision, initial_end=True))
        else:
            self.last_rv = int(requested)
            if self.last_rv > store.revision:
                # Never reached here (e.g. remembered from before the data folder was wiped):
                # skipping every event up to it would hide them; the client must relist.
                status = StatusError(
                    410,
                    "Expired",
                    f"too large resource version: {requested} (current: {store.revision})",
                ).to_status()
                await self._emit(orjson.dumps({"type": "ERROR", "object": status}) + b"\n")
                return
            missed = await store.history(self.last_rv, self.prefix)
            if missed is None:
                status = StatusError(
                    410,
                    "Expired",
                    f"too old resource version: {requested} ({store.storage.compacted})",
                ).to_status()
                await self._emit(orjson.dumps({"type": "ERROR", "object": status}) + b"\n")
                return
            for event in missed:
                await self._deliver(event)
        while not self._disconnected.is_set():
            next_event = await self._next(watcher, self.bookmark_interval)
            if next_event is _TIMED_OUT:
                if self.bookmarks and watcher.queue.empty():
                    # Every event up to the last broadcast is delivered or filtered out.
                    self.last_rv = max(self.last_rv, store.revision_broadcast)
                    await self._emit(self._bookmark(self.last_rv))
                continue
            if not isinstance(next_event, Event):
                return
            watcher.taken(next_event)
            await self._deliver(next_event)

    async def _deliver(self, event: Event) -> None:
        if event.rv <= self.last_rv:
            return  # already sent as part of the initial state or the backlog
        self.last_rv = event.rv
        name = self._translate(event)
        if name is not None:
            await self._emit(self._line(name, event.data))

    async def _next(self, watcher: Watcher, timeout: float) -> Event | object | None:
        """The next event, ``None`` once the client is gone, or ``_TIMED_OUT``."""
        if not watcher.queue.empty():
            return watcher.queue.get_nowait()
        getter = asyncio.ensure_future(watcher.queue.get())
        stopper = asyncio.ensure_future(self._disconnected.wait())
        done, _ = await asyncio.wait(
            {getter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        stopper.cancel()
        if getter.done():
            return getter.result()
        # NB: cancelled only when not done, so no event is ever dropped here.
        getter.cancel()
        return None if stopper in done else _TIMED_OUT
