"""Garbage collection by ``ownerReferences``, with kube-controller-manager's semantics.

A DELETE chooses how dependents go (``propagationPolicy``):

- ``Background`` (the default): the owner goes at once; then each dependent whose owners are
  all gone is deleted, and a dependent that still has a live owner only loses the reference.
- ``Foreground``: the owner gets the ``foregroundDeletion`` finalizer and a deletionTimestamp;
  its dependents are deleted, and the finalizer is removed (so the owner goes) once no
  dependent with ``blockOwnerDeletion: true`` is left.
- ``Orphan``: the owner gets the ``orphan`` finalizer; its dependents lose their reference to
  it, then the finalizer is removed.

The collector keeps an index of dependents by owner uid, updated from every stored change,
and does its work in background tasks through ordinary store writes, so watchers see each
step. Work cut short by a restart is picked up again at the next start (:meth:`resume`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from statestore.errors import StatusError
from statestore.resources import ResourceInfo
from statestore.storage import DELETED, MODIFIED
from wws import logconfig

if TYPE_CHECKING:
    from statestore.store import Entry, Event, Store

log = logconfig.get(__name__)

ORPHAN_FINALIZER: Final = "orphan"
FOREGROUND_FINALIZER: Final = "foregroundDeletion"
_POLICY_FINALIZERS: Final = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}

#: Where an object lives: (group, plural, storage key).
Location = tuple[str, str, str]


def finalizer_for(policy: str | None) -> str | None:
    """The finalizer a DELETE with ``policy`` puts on the owner (``None`` for Background)."""
    return _POLICY_FINALIZERS.get(policy or "")


def _references(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    if obj is None:
        return []
    refs = obj.get("metadata", {}).get("ownerReferences")
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


class Collector:
    def __init__(self, store: Store) -> None:
        self.store = store
        #: owner uid → where its dependents are.
        self._dependents: dict[str, set[Location]] = {}

    # ---------------------------------------------------------------- the index

    def index(self, key: str, obj: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
        """Follow one stored change of the object at ``key`` (``obj`` None: deleted)."""
        before, after = _references(previous), _references(obj)
        if not before and not after:
            return
        group, plural, _ = key.split("/", 2)
        location = (group, plural, key)
        for ref in before:
            dependents = self._dependents.get(str(ref.get("uid")))
            if dependents is not None:
                dependents.discard(location)
                if not dependents:
                    del self._dependents[str(ref.get("uid"))]
        for ref in after:
            self._dependents.setdefault(str(ref.get("uid")), set()).add(location)

    def has_dependents(self, uid: str) -> bool:
        return bool(self._dependents.get(uid))

    # ---------------------------------------------------------------- reactions

    def observe(self, event: Event) -> None:
        """Start the work a stored change calls for (called once the change is durable)."""
        obj = event.obj
        self.index(event.key, None if event.type == DELETED else obj, event.previous)
        metadata = obj.get("metadata", {})
        uid = str(metadata.get("uid", ""))
        if event.type == DELETED:
            if self.has_dependents(uid):
                self.store.spawn(self._collect(uid))
        elif metadata.get("deletionTimestamp"):
            finalizers = metadata.get("finalizers") or []
            if ORPHAN_FINALIZER in finalizers or FOREGROUND_FINALIZER in finalizers:
                self.store.spawn(self._finish_owner(event.key))
        # A dependent created (or given references) whose owners do not exist goes at once,
        # as kube's collector does with such "virtual" owners.
        references = _references(obj)
        if (
            event.type != DELETED
            and references
            and references != _references(event.previous)
            and not metadata.get("deletionTimestamp")
        ):
            self.store.spawn(self._check_dependent(event.key))
        # A dependent that went (or dropped a reference) may be what an owner waited for.
        if event.previous is not None:
            namespace = event.previous["metadata"].get("namespace")
            for ref in _references(event.previous):
                owner = self._owner(ref, namespace)
                if owner is not None and _waiting(owner[1].obj):
                    self.store.spawn(self._finish_owner(owner[0]))

    def resume(self) -> None:
        """At start: owners left mid-deletion, and dependents whose owners are all gone."""
        for bucket in self.store.buckets():
            for key, entry in list(bucket.items()):
                metadata = entry.obj["metadata"]
                finalizers = metadata.get("finalizers") or []
                if metadata.get("deletionTimestamp") and (
                    ORPHAN_FINALIZER in finalizers or FOREGROUND_FINALIZER in finalizers
                ):
                    self.store.spawn(self._finish_owner(key))
        for uid, locations in list(self._dependents.items()):
            # Any one dependent's reference tells where the owner would be.
            dependent = next(filter(None, (self._entry(loc) for loc in locations)), None)
            if dependent is None:
                continue
            ref = next(r for r in _references(dependent.obj) if str(r.get("uid")) == uid)
            if self._owner(ref, dependent.obj["metadata"].get("namespace")) is None:
                self.store.spawn(self._collect(uid))

    # ---------------------------------------------------------------- the work

    def _entry(self, location: Location) -> Entry | None:
        group, plural, key = location
        return self.store.bucket(group, plural).get(key)

    def _info(self, api_version: str, kind: str) -> ResourceInfo | None:
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        for info in self.store.registry:
            if info.group == group and info.kind == kind:
                return info
        return None

    def resolvable(self, ref: dict[str, Any]) -> bool:
        """Whether the store serves the owner's kind at all (kube's collector keeps, and
        retries, a dependent whose owner's kind it cannot resolve)."""
        return self._info(str(ref.get("apiVersion", "")), str(ref.get("kind", ""))) is not None

    def _owner(self, ref: dict[str, Any], namespace: str | None) -> tuple[str, Entry] | None:
        """The key and entry of the owner a reference names; ``None`` when it is gone (or
        was replaced by another object of the same name)."""
        info = self._info(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        if info is None:
            return None
        key = info.key(namespace if info.namespaced else None, str(ref.get("name", "")))
        entry = self.store.bucket(info.group, info.plural).get(key)
        if entry is None or entry.obj["metadata"].get("uid") != ref.get("uid"):
            return None
        return key, entry

    async def _collect(self, uid: str) -> None:
        """The owner ``uid`` is gone or waits for its dependents: deal with each of them."""
        for location in list(self._dependents.get(uid, ())):
            entry = self._entry(location)
            if entry is not None:
                await self._attempt_to_delete(location, entry)

    async def _attempt_to_delete(self, location: Location, entry: Entry) -> None:
        """kube's attemptToDeleteItem: keep the dependent while a solid owner is left."""
        obj = entry.obj
        metadata = obj["metadata"]
        if metadata.get("deletionTimestamp"):
            return
        namespace = metadata.get("namespace")
        solid, dropped, waiting = [], [], []
        for ref in _references(obj):
            owner = self._owner(ref, namespace)
            if owner is None and not self.resolvable(ref):
                solid.append(ref)  # a kind this store does not serve: never taken as gone
            elif owner is None:
                dropped.append(ref)
            elif _waiting(owner[1].obj):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            if dropped or waiting:
                gone = {id(r) for r in dropped + waiting}
                kept = [r for r in _references(obj) if id(r) not in gone]
                await self._set_references(location, entry, kept)
            return
        # Nothing holds it: delete it, in the foreground when its owner waits and it has
        # dependents of its own (so the wait reaches down the whole tree).
        if waiting and self.has_dependents(str(metadata.get("uid"))):
            policy: str | None = "Foreground"
        else:
            policy = _policy_from_finalizers(metadata.get("finalizers") or [])
        info = self.store.registry.get(location[0], location[1])
        if info is None:
            return
        try:
            await self.store.delete(
                info,
                namespace,
                metadata["name"],
                preconditions={"uid": metadata.get("uid")},
                propagation=policy,
            )
            log.info(
                "store.garbage_collected",
                namespace=namespace,
                name=metadata["name"],
                kind=info.kind,
            )
        except StatusError as error:
            if error.code not in (404, 409):
                log.warning(
                    "store.garbage_failed",
                    namespace=namespace,
                    name=metadata["name"],
                    error=str(error),
                )

    async def _check_dependent(self, key: str) -> None:
        group, plural, _ = key.split("/", 2)
        entry = self.store.bucket(group, plural).get(key)
        if entry is not None:
            await self._attempt_to_delete((group, plural, key), entry)

    async def _finish_owner(self, key: str) -> None:
        """An owner deleted with Orphan or Foreground: orphan or delete the dependents, then
        drop the finalizer once nothing it waits for is left."""
        group, plural, _ = key.split("/", 2)
        entry = self.store.bucket(group, plural).get(key)
        if entry is None or not entry.obj["metadata"].get("deletionTimestamp"):
            return
        metadata = entry.obj["metadata"]
        uid = str(metadata.get("uid"))
        finalizers = metadata.get("finalizers") or []
        if ORPHAN_FINALIZER in finalizers:
            for location in list(self._dependents.get(uid, ())):
                dependent = self._entry(location)
                if dependent is not None:
                    refs = [r for r in _references(dependent.obj) if str(r.get("uid")) != uid]
                    await self._set_references(location, dependent, refs)
            await self._drop_finalizer(key, ORPHAN_FINALIZER)
            return
        if FOREGROUND_FINALIZER not in finalizers:
            return
        await self._collect(uid)
        if not any(self._blocks(location, uid) for location in self._dependents.get(uid, ())):
            await self._drop_finalizer(key, FOREGROUND_FINALIZER)

    def _blocks(self, location: Location, uid: str) -> bool:
        entry = self._entry(location)
        if entry is None:
            return False
        return any(
            str(r.get("uid")) == uid and r.get("blockOwnerDeletion") is True
            for r in _references(entry.obj)
        )

    async def _set_references(
        self, location: Location, entry: Entry, references: list[dict[str, Any]]
    ) -> None:
        group, plural, key = location
        info = self.store.registry.get(group, plural)
        if info is None:
            return
        current = self.store.bucket(group, plural).get(key)
        if current is not entry:
            return  # changed meanwhile; the change's own event brings us back if needed
        new = copy.deepcopy(entry.obj)
        if references:
            new["metadata"]["ownerReferences"] = references
        else:
            new["metadata"].pop("ownerReferences", None)
        await self.store.commit(info, [(key, MODIFIED, new)])

    async def _drop_finalizer(self, key: str, finalizer: str) -> None:
        group, plural, _ = key.split("/", 2)
        info = self.store.registry.get(group, plural)
        entry = self.store.bucket(group, plural).get(key)
        if info is None or entry is None:
            return
        finalizers = entry.obj["metadata"].get("finalizers") or []
        if finalizer not in finalizers:
            return
        new = copy.deepcopy(entry.obj)
        rest = [f for f in finalizers if f != finalizer]
        if rest:
            new["metadata"]["finalizers"] = rest
        else:
            new["metadata"].pop("finalizers", None)
        gone = not rest and not self.store.held(info, new)
        await self.store.commit(info, [(key, DELETED if gone else MODIFIED, new)])


def _waiting(obj: dict[str, Any]) -> bool:
    """An owner being deleted in the foreground: it waits for its dependents."""
    metadata = obj["metadata"]
    return bool(metadata.get("deletionTimestamp")) and FOREGROUND_FINALIZER in (
        metadata.get("finalizers") or []
    )


def _policy_from_finalizers(finalizers: Iterable[str]) -> str | None:
    found = set(finalizers)
    if ORPHAN_FINALIZER in found:
        return "Orphan"
    if FOREGROUND_FINALIZER in found:
        return "Foreground"
    return None
