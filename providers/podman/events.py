"""Podman's changes as they happen: the container events of WWS's workspaces (from the API's
event stream) and the agents' new reports (from inotify on their folders), as one stream of
:class:`~providers.base.Change` (see :meth:`providers.base.Provider.subscribe`).

The event stream is read in a thread of its own (``GET /libpod/events?stream=true``, one
JSON object a line) over a connection this module owns, so cancelling the subscription can
shut the socket down and end the thread at once. Idle, neither side costs anything: the
thread waits in ``recv`` and the report watcher in inotify.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import watchfiles

from providers import base
from providers.podman import naming, service
from providers.podman.calls import api_json
from providers.podman.folders import AgentFolders
from wws import logconfig

log = logconfig.get(__name__)

#: The container actions that can change what a workspace is (``exec``, ``attach``, ``init``,
#: ``cleanup``, ``kill`` — followed by ``died`` —, ... cannot).
ACTIONS = frozenset(
    {"create", "start", "restart", "stop", "died", "pause", "unpause", "remove", "rename", "oom"}
)
#: The path of the event stream (any API version prefix is served; 4.0 is Debian 12's era).
EVENTS_PATH = "/v4.0.0/libpod/events"

_END = object()


def change_of(event: dict[str, Any]) -> base.Change | None:
    """The :class:`Change` of one Podman event; ``None`` for what is not a WWS workspace's
    container or cannot change it."""
    if event.get("Type") != "container":
        return None
    action = str(event.get("Action") or event.get("status") or "")
    if action not in ACTIONS:
        return None
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    uid = attributes.get(naming.LABEL_UID)
    if not uid:
        return None
    return base.Change(base.ChangeKind.WORKSPACE, uid=str(uid), action=action)


class _Stream:
    """One connection to the event stream, read in a thread."""

    def __init__(self, socket_path: Path, deliver: Callable[[object], None]) -> None:
        self.socket_path = socket_path
        self.deliver = deliver
        self.stopped = threading.Event()
        self._conn: service.UnixHTTPConnection | None = None

    def run(self) -> None:
        error: BaseException | None = None
        try:
            self._read()
        except Exception as failed:  # the service went away, a broken line, ...
            error = failed
        if not self.stopped.is_set():
            self.deliver(error if error is not None else _END)

    def _read(self) -> None:
        conn = service.UnixHTTPConnection(self.socket_path, timeout=10.0)
        self._conn = conn
        filters = api_json({"type": ["container"]})
        conn.request("GET", f"{EVENTS_PATH}?stream=true&filters={filters}")
        response = conn.getresponse()
        if response.status != 200:
            raise base.ProviderUnavailable(
                f"podman events on {self.socket_path}: HTTP {response.status}"
            )
        if conn.sock is not None:
            conn.sock.settimeout(None)  # NB: an idle stream is silent for hours
        self.deliver(base.Change(base.ChangeKind.CONNECTED))
        while not self.stopped.is_set():
            line = response.readline()
            if not line:
                return  # the service closed the stream
            if not line.strip():
                continue
            change = change_of(json.loads(line))
            if change is not None:
                self.deliver(change)

    def stop(self) -> None:
        self.stopped.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        if conn is not None:
            conn.close()


def _is_report(_: watchfiles.Change, path: str) -> bool:
    parts = Path(path).parts
    return len(parts) >= 3 and parts[-1] == base.AGENT_REPORT_FILE and parts[-2] == "status"


async def _watch_reports(folders: AgentFolders, deliver: Callable[[object], None]) -> None:
    """Every new ``report.json`` under the agents' folders, as a REPORT change."""
    try:
        folders.root.mkdir(parents=True, exist_ok=True)
        async for changes in watchfiles.awatch(
            folders.root, watch_filter=_is_report, debounce=50, step=20, rust_timeout=60_000
        ):
            for uid in sorted({Path(path).parts[-3] for _, path in changes}):
                deliver(base.Change(base.ChangeKind.REPORT, uid=uid, action="report"))
    except Exception as error:  # NB: the subscription ends; the caller subscribes again
        deliver(error)


async def subscribe(socket_path: Path, folders: AgentFolders) -> AsyncIterator[base.Change]:
    """The stream of :meth:`PodmanProvider.subscribe`; ends, or raises
    :class:`~providers.base.ProviderUnavailable`, when the event stream is lost."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()

    def deliver(item: object) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    stream = _Stream(socket_path, deliver)
    thread = threading.Thread(target=stream.run, name="podman events", daemon=True)
    thread.start()
    reports = asyncio.create_task(_watch_reports(folders, queue.put_nowait), name="agent reports")
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise base.ProviderUnavailable(f"podman events: {item}") from item
            assert isinstance(item, base.Change)
            yield item
    finally:
        stream.stop()
        reports.cancel()
        with contextlib.suppress(BaseException):
            await reports
        await asyncio.to_thread(thread.join, 5.0)
