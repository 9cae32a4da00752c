"""Live status: ONE watch of every Workspace per UI process, fanned out to the browsers.

The mirror lists and then watches workspaces as the UI itself, keeps the current objects in
memory (the dashboard renders from them) and hands each change to every connected
Server-Sent-Events client whose person may list workspaces in that namespace (RBAC's answer,
from :mod:`webui.access`, re-asked every few seconds so a removed person stops receiving).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from typing import Any

from prometheus_client import Gauge

from webui import views
from webui.access import Api
from webui.kube import ApiError, Kube, Person, path
from wws import logconfig

log = logconfig.get(__name__)

SSE_CLIENTS = Gauge("wws_webui_sse_clients", "Browsers connected to the live status stream")
RECHECK_SECONDS = 10.0


@dataclasses.dataclass(eq=False)
class Subscriber:
    person: Person
    queue: asyncio.Queue[str] = dataclasses.field(default_factory=lambda: asyncio.Queue(1000))
    visible: dict[str, bool] = dataclasses.field(default_factory=dict)
    checked: float = dataclasses.field(default_factory=time.monotonic)


class Mirror:
    """The current Workspaces of every namespace, kept by one list + watch."""

    def __init__(self, kube: Kube, api: Api) -> None:
        self.kube = kube
        self.api = api
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.subscribers: set[Subscriber] = set()
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webui-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        collection = path("workspaces")
        version: str | None = None
        while True:
            try:
                if version is None:
                    listed = await self.kube.request("GET", collection, person=None)
                    fresh = {
                        (o["metadata"]["namespace"], o["metadata"]["name"]): o
                        for o in listed.get("items") or []
                    }
                    gone = set(self.objects) - set(fresh)
                    self.objects = fresh
                    version = str(listed["metadata"]["resourceVersion"])
                    self.synced.set()
                    for key in gone:
                        await self._publish(
                            "DELETED",
                            {"metadata": dict(zip(("namespace", "name"), key, strict=True))},
                        )
                async for event in self.kube.watch(collection, resource_version=version):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        version = None  # 410 Gone: list again
                        break
                    version = str(obj.get("metadata", {}).get("resourceVersion") or version)
                    if kind == "BOOKMARK":
                        continue
                    meta = obj["metadata"]
                    key = (meta["namespace"], meta["name"])
                    if kind == "DELETED":
                        self.objects.pop(key, None)
                    else:
                        self.objects[key] = obj
                    await self._publish(str(kind), obj)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, ApiError, OSError, ValueError, KeyError) as error:
                log.warning("webui.watch_failed", error=str(error))
                version = None
                await asyncio.sleep(1)
            except Exception as error:  # the live feed must outlive any surprise
                log.exception("webui.watch_crashed", error=str(error))
                version = None
                await asyncio.sleep(1)

    async def _publish(self, kind: str, obj: dict[str, Any]) -> None:
        namespace = obj["metadata"]["namespace"]
        payload = json.dumps(views.live_summary(kind, obj))
        message = f"event: workspace\ndata: {payload}\n\n"
        now = time.monotonic()
        for subscriber in list(self.subscribers):
            if now - subscriber.checked > RECHECK_SECONDS:
                subscriber.visible.clear()
                subscriber.checked = now
            allowed = subscriber.visible.get(namespace)
            if allowed is None:
                allowed = await self.api.can(
                    subscriber.person, verb="watch", resource="workspaces", namespace=namespace
                )
                subscriber.visible[namespace] = allowed
            if allowed:
                with contextlib.suppress(asyncio.QueueFull):
                    subscriber.queue.put_nowait(message)

    def subscribe(self, person: Person) -> Subscriber:
        subscriber = Subscriber(person)
        self.subscribers.add(subscriber)
        SSE_CLIENTS.set(len(self.subscribers))
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        SSE_CLIENTS.set(len(self.subscribers))

    def in_namespace(self, namespace: str) -> list[dict[str, Any]]:
        return [o for (ns, _), o in self.objects.items() if ns == namespace]

    def namespaces(self) -> set[str]:
        return {ns for ns, _ in self.objects}
