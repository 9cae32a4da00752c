"""Deletions the server makes on its own, as kube-controller-manager would next to the API server.

A Namespace being deleted loses its contents, then its ``kubernetes`` finalizer; a CRD being
deleted loses its instances, then its cleanup finalizer; core/v1 Events expire after an hour.
Each step is an ordinary store delete or commit, so watchers see every change, and a cascade
cut short by a restart goes on at the next start (:meth:`Cascades.resume`).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from statestore import objects, resources, strategies
from statestore.errors import StatusError
from statestore.resources import ResourceInfo
from statestore.storage import DELETED, MODIFIED
from wws import logconfig

if TYPE_CHECKING:
    from statestore.store import Entry, Event, Store

log = logconfig.get(__name__)

EVENT_TTL_SECONDS = 3600


class Cascades:
    def __init__(self, store: Store) -> None:
        self.store = store

    def resume(self) -> None:
        """Cascades interrupted by a restart (a namespace or CRD being deleted) go on."""
        self.store.spawn(self._expire_events())
        for entry in list(self.store.bucket("", "namespaces").values()):
            if entry.obj["metadata"].get("deletionTimestamp"):
                self.store.spawn(self.namespace(entry.obj["metadata"]["name"]))

    def start(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        """A deletion that waits for a cascade has begun: start the cascade."""
        name = obj["metadata"]["name"]
        if info is resources.NAMESPACES:
            self.store.spawn(self.namespace(name))
        elif info is resources.CRDS:
            self.store.spawn(self.crd(name))

    def after_delete(self, event: Event) -> None:
        """A deletion may be the last thing a terminating namespace or CRD waited for."""
        group, plural, namespace, _ = event.key.split("/", 3)
        if namespace:
            ns = self.store.get_entry(resources.NAMESPACES, None, namespace)
            if ns is not None and ns.obj["metadata"].get("deletionTimestamp"):
                self.store.spawn(self.namespace(namespace))
        if group and group != resources.CRD_GROUP:
            crd = self.store.get_entry(resources.CRDS, None, f"{plural}.{group}")
            if crd is not None and crd.obj["metadata"].get("deletionTimestamp"):
                self.store.spawn(self.crd(crd.obj["metadata"]["name"]))

    async def delete_all(self, entries: Iterable[Entry], info: ResourceInfo) -> None:
        for entry in list(entries):
            metadata = entry.obj["metadata"]
            if metadata.get("deletionTimestamp"):
                continue
            try:
                await self.store.delete(info, metadata.get("namespace"), metadata["name"])
            except StatusError as error:
                if error.code != 404:
                    log.warning(
                        "store.cascade_failed",
                        namespace=metadata.get("namespace"),
                        name=metadata["name"],
                        error=str(error),
                    )

    async def namespace(self, namespace: str) -> None:
        """The namespace controller's job: delete the contents, then the namespace."""
        store = self.store
        for info in store.registry:
            if info.namespaced:
                bucket = store.bucket(info.group, info.plural)
                prefix = info.key_prefix(namespace)
                await self.delete_all([e for k, e in bucket.items() if k.startswith(prefix)], info)
        remaining = any(
            key.startswith(info.key_prefix(namespace))
            for info in store.registry
            if info.namespaced
            for key in store.bucket(info.group, info.plural)
        )
        entry = store.get_entry(resources.NAMESPACES, None, namespace)
        if remaining or entry is None or not entry.obj["metadata"].get("deletionTimestamp"):
            return
        final = copy.deepcopy(entry.obj)
        final.setdefault("spec", {})["finalizers"] = []
        key = resources.NAMESPACES.key(None, namespace)
        if final["metadata"].get("finalizers"):
            await store.commit(resources.NAMESPACES, [(key, MODIFIED, final)])
        else:
            await store.commit(resources.NAMESPACES, [(key, DELETED, final)])

    async def crd(self, crd_name: str) -> None:
        """Delete every instance of a CRD being deleted, then drop its cleanup finalizer."""
        store = self.store
        entry = store.get_entry(resources.CRDS, None, crd_name)
        if entry is None:
            return
        group = entry.obj["spec"]["group"]
        plural = entry.obj["spec"]["names"]["plural"]
        info = store.registry.get(group, plural)
        bucket = store.bucket(group, plural)
        if info is not None:
            await self.delete_all(bucket.values(), info)
        if bucket:
            return
        final = copy.deepcopy(entry.obj)
        finalizers = [
            f for f in final["metadata"].get("finalizers", []) if f != strategies.CRD_FINALIZER
        ]
        final["metadata"]["finalizers"] = finalizers
        event = MODIFIED if finalizers else DELETED
        if not finalizers:
            final["metadata"].pop("finalizers")
        await store.commit(resources.CRDS, [(resources.CRDS.key(None, crd_name), event, final)])

    async def _expire_events(self) -> None:
        """core/v1 Events live an hour, as in Kubernetes, so they never fill the store."""
        while True:
            await asyncio.sleep(60)
            cutoff = objects.now_minus(EVENT_TTL_SECONDS)
            stale = [
                e
                for e in self.store.bucket("", "events").values()
                if e.obj["metadata"].get("creationTimestamp", "") < cutoff
            ]
            await self.delete_all(stale, resources.EVENTS)
