"""libvirt's changes as they happen: the lifecycle events of WWS's domains (started,
stopped, crashed, defined, undefined, ...) and the agents' new reports (inotify on their
folders, as for Podman), as one stream of :class:`~providers.base.Change` (see
:meth:`providers.base.Provider.subscribe`).

libvirt delivers events through an event loop of the client: the default implementation is
registered once per process and run by one daemon thread; each subscription opens its own
connection, registers a lifecycle callback on it and ends when that connection closes
(libvirtd stopped or restarted), so the caller subscribes again and re-lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import libvirt

from providers import base
from providers.libvirt import daemon, naming
from providers.podman import events as podman_events
from providers.podman.folders import AgentFolders
from wws import logconfig

log = logconfig.get(__name__)

_END = object()
_loop_guard = threading.Lock()
_loop_started = False

#: libvirt's lifecycle event numbers, as words for logs.
EVENTS = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: "defined",
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: "undefined",
    libvirt.VIR_DOMAIN_EVENT_STARTED: "started",
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: "suspended",
    libvirt.VIR_DOMAIN_EVENT_RESUMED: "resumed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED: "stopped",
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: "pmsuspended",
    libvirt.VIR_DOMAIN_EVENT_CRASHED: "crashed",
}


def _ensure_event_loop() -> None:
    """libvirt's default event loop, registered and run once per process."""
    global _loop_started
    with _loop_guard:
        if _loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except libvirt.libvirtError as error:  # keep serving the other connections
                    log.warning("libvirt event loop", error=str(error))

        threading.Thread(target=run, name="libvirt events", daemon=True).start()
        _loop_started = True


def change_of(name: str, event: int) -> base.Change | None:
    uid = naming.uid_of_domain(name)
    if not uid:
        return None
    return base.Change(base.ChangeKind.WORKSPACE, uid=uid, action=EVENTS.get(event, str(event)))


async def subscribe(uri: str, folders: AgentFolders) -> AsyncIterator[base.Change]:
    """The stream of :meth:`LibvirtProvider.subscribe`; raises
    :class:`~providers.base.ProviderUnavailable` when the connection is lost."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()

    def deliver(item: object) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    await asyncio.to_thread(_ensure_event_loop)
    conn = await asyncio.to_thread(daemon.connect, uri)

    def on_lifecycle(_c: Any, dom: Any, event: int, _detail: int, _opaque: Any) -> None:
        change = change_of(dom.name(), event)
        if change is not None:
            deliver(change)

    def on_close(_c: Any, reason: int, _opaque: Any) -> None:
        deliver(base.ProviderUnavailable(f"libvirt at {uri}: connection closed ({reason})"))

    callback_id = conn.domainEventRegisterAny(
        None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None
    )
    conn.registerCloseCallback(on_close, None)
    watch: Callable[[object], None] = queue.put_nowait
    reports = asyncio.create_task(
        podman_events._watch_reports(folders, watch), name="agent reports"
    )
    try:
        yield base.Change(base.ChangeKind.CONNECTED)
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, base.ProviderError):
                raise item
            if isinstance(item, BaseException):
                raise base.ProviderUnavailable(f"libvirt events: {item}") from item
            assert isinstance(item, base.Change)
            yield item
    finally:
        reports.cancel()
        with contextlib.suppress(BaseException):
            await reports
        with contextlib.suppress(libvirt.libvirtError):
            conn.domainEventDeregisterAny(callback_id)
        with contextlib.suppress(libvirt.libvirtError):
            conn.unregisterCloseCallback()
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
