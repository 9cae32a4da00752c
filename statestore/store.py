"""The object store: Kubernetes API semantics over the revision log.

The current state lives in memory (loaded from SQLite at start) so that reads never touch
the disk; every change is appended to the log and acknowledged only once durable. All
mutations of the in-memory state happen on the event loop with no ``await`` between reading
the current object and assigning the next resourceVersion, which makes each write atomic
and serialises optimistic-concurrency checks without locks.

What differs by kind is asked of the kind's strategy (``strategies``); what a body must satisfy
is in ``validation``; deletions the server makes on its own are in ``cascades`` and
``garbage``; lists in pages are ``listing``'s; the types handed around are in ``changes``.
The module stays over 500 lines (~690) because create, update/patch and delete, with their
admission, size limits and encryption hooks, share the commit, settle and broadcast
machinery and read best next to it.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from statestore import (
    cascades,
    encryption,
    errors,
    garbage,
    limits,
    objects,
    patching,
    resources,
    strategies,
    validation,
)
from statestore.changes import Entry, Event, Watcher, WriteResult
from statestore.errors import Cause, StatusError
from statestore.resources import ResourceInfo
from statestore.storage import ADDED, DELETED, EVENT_NAMES, MODIFIED, Record, Storage
from wws import logconfig

log = logconfig.get(__name__)

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public")
#: How many names a create with generateName draws before it gives up with 409.
GENERATE_NAME_ATTEMPTS = 8


Admission = Callable[
    [str, ResourceInfo, str | None, str, dict[str, Any] | None, dict[str, Any] | None],
    list[str],
]


class Store:
    def __init__(
        self,
        data_dir: Path,
        *,
        history_window: int = 20_000,
        limits: limits.Limits = limits.DEFAULT,
        encryption_config: encryption.Config | None = None,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self.storage = Storage(
            data_dir / "store.db", window=history_window, encryption_config=encryption_config
        )
        self.registry = resources.Registry()
        self.revision = 0
        #: The newest revision every watcher has been handed (bookmarks may claim it).
        self.revision_broadcast = 0
        #: Commits in flight, and readers waiting for them to settle.
        self._in_flight = 0
        self._settle_waiters: list[asyncio.Future[None]] = []
        self._objects: dict[tuple[str, str], dict[str, Entry]] = {}
        self._watchers: set[Watcher] = set()
        self._recent: deque[Event] = deque(maxlen=4096)
        self._recent_bytes = 0
        self._background: set[asyncio.Task[None]] = set()
        #: Called with the registry whenever a CRD changes (the OpenAPI cache listens).
        self.on_registry_change: list[Callable[[], None]] = []
        self.cascades = cascades.Cascades(self)
        #: Called with every change as it is broadcast (the RBAC index listens).
        self.on_event: list[Callable[[Event], None]] = []
        #: Admission: (operation, info, namespace, name, object, old object) → warnings;
        #: raises StatusError to refuse. Runs just before a write commits, never awaited.
        self.admission: Admission | None = None
        self.garbage = garbage.Collector(self)

    # ---------------------------------------------------------------- start and stop

    async def start(self) -> None:
        loaded = self.storage.load()
        self.revision = loaded.revision
        self.revision_broadcast = loaded.revision
        for record in loaded.current:
            obj = orjson.loads(record.value)
            group, plural, _ = record.key.split("/", 2)
            self.bucket(group, plural)[record.key] = Entry(record.rv, record.value, obj)
            self.garbage.index(record.key, obj, None)
            strategies.for_group_resource(group, plural).observe(
                obj, deleted=False, registry=self.registry
            )
        for namespace in INITIAL_NAMESPACES:
            if self.get_entry(resources.NAMESPACES, None, namespace) is None:
                await self.create(
                    resources.NAMESPACES, "v1", None, {"metadata": {"name": namespace}}
                )
        self.cascades.resume()
        self.garbage.resume()
        log.info(
            "store.started",
            revision=self.revision,
            objects=sum(len(b) for b in self._objects.values()),
        )

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.to_thread(self.storage.close)

    def spawn(self, coroutine: Any) -> None:
        """Run ``coroutine`` in the background until the store stops."""
        # NB: an empty context: background work (cascades) runs as the server, not as
        # whoever made the request that started it.
        task = asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- reads

    def bucket(self, group: str, plural: str) -> dict[str, Entry]:
        """The live objects of one resource by key (the caller must not mutate it)."""
        bucket = self._objects.get((group, plural))
        if bucket is None:
            bucket = self._objects[(group, plural)] = {}
        return bucket

    def get_entry(self, info: ResourceInfo, namespace: str | None, name: str) -> Entry | None:
        return self.bucket(info.group, info.plural).get(info.key(namespace, name))

    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> Entry:
        entry = self.get_entry(info, namespace, name)
        if entry is None:
            raise errors.not_found(group=info.group, plural=info.plural, name=name)
        return entry

    def list_entries(
        self,
        info: ResourceInfo,
        namespace: str | None,
        matcher: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> tuple[int, list[Entry]]:
        bucket = self.bucket(info.group, info.plural)
        prefix = info.key_prefix(namespace) if info.namespaced and namespace else None
        items = [
            entry
            for key, entry in bucket.items()
            if (prefix is None or key.startswith(prefix))
            and (matcher is None or matcher(entry.obj))
        ]
        items.sort(
            key=lambda entry: (
                entry.obj["metadata"].get("namespace", ""),
                entry.obj["metadata"]["name"],
            )
        )
        return self.revision, items

    # ---------------------------------------------------------------- the write path

    async def commit(
        self, info: ResourceInfo, writes: list[tuple[str, int, dict[str, Any]]]
    ) -> list[bytes]:
        """Assign revisions, update memory, persist, then broadcast — in that order."""
        bucket = self.bucket(info.group, info.plural)
        records: list[Record] = []
        events: list[Event] = []
        undo: list[tuple[str, Entry | None]] = []
        for key, event_type, obj in writes:
            self.revision += 1
            rv = self.revision
            obj["metadata"]["resourceVersion"] = str(rv)
            data = orjson.dumps(obj)
            if event_type != DELETED and len(data) > self.limits.max_object_bytes:
                self.revision -= len(undo) + 1
                self._undo(bucket, undo)
                raise _too_large(info, obj, len(data), self.limits.max_object_bytes)
            previous = bucket.get(key)
            undo.append((key, previous))
            if event_type == DELETED:
                bucket.pop(key, None)
            else:
                bucket[key] = Entry(rv, data, obj)
            records.append(Record(rv, key, event_type, data))
            events.append(Event(rv, key, event_type, data, obj, previous.obj if previous else None))
        self._in_flight += 1
        try:
            await self.storage.commit(records, on_durable=lambda: self._broadcast(events))
        except Exception as error:
            # Nothing was persisted: put memory back so no one reads a write that is not there.
            self._undo(bucket, undo)
            log.error("store.commit_failed", error=str(error))
            raise StatusError(
                500, "InternalError", f"the write could not be made durable: {error}"
            ) from error
        finally:
            self._in_flight -= 1
            self._wake_settle_waiters()
        return [record.value for record in records]

    @staticmethod
    def _undo(bucket: dict[str, Entry], undo: list[tuple[str, Entry | None]]) -> None:
        for key, previous in reversed(undo):
            if previous is None:
                bucket.pop(key, None)
            else:
                bucket[key] = previous

    def _wake_settle_waiters(self) -> None:
        waiters, self._settle_waiters = self._settle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def settled(self, revision: int | None = None) -> None:
        """Wait until no write up to ``revision`` (default: all so far) is still in flight.

        Memory is updated before the fsync (that keeps each write atomic on the loop), so a
        read waits here: it never shows a write that a crash could still take back. Under
        load this is one group commit, about a millisecond.
        """
        target = self.revision if revision is None else revision
        while self._in_flight and self.revision_broadcast < target:
            waiter = asyncio.get_running_loop().create_future()
            self._settle_waiters.append(waiter)
            await waiter

    def _broadcast(self, events: list[Event]) -> None:
        recent = self._recent
        for event in events:
            self.revision_broadcast = event.rv
            # Bounded by bytes as well as by events: older events are read from disk.
            if len(recent) == recent.maxlen:
                self._recent_bytes -= len(recent[0].data)
            recent.append(event)
            self._recent_bytes += len(event.data)
            while self._recent_bytes > self.limits.replay_buffer_bytes and len(recent) > 1:
                self._recent_bytes -= len(recent.popleft().data)
            for watcher in self._watchers:
                if event.key.startswith(watcher.prefix):
                    watcher.offer(event)
            self._after_event(event)
            for listener in self.on_event:
                listener(event)

    def _after_event(self, event: Event) -> None:
        """Server-side reactions: CRDs change what is served; deletions finish cascades."""
        group, plural, _ = event.key.split("/", 2)
        strategy = strategies.for_group_resource(group, plural)
        if strategy.observe(event.obj, deleted=event.type == DELETED, registry=self.registry):
            for callback in self.on_registry_change:
                callback()
        if event.type == DELETED:
            self.cascades.after_delete(event)
        self.garbage.observe(event)

    def _admit(
        self,
        operation: str,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
    ) -> list[str]:
        if self.admission is None:
            return []
        return self.admission(operation, info, namespace, name, obj, old)

    def has_objects(self, group: str, plural: str) -> bool:
        return bool(self._objects.get((group, plural)))

    def buckets(self) -> list[dict[str, Entry]]:
        """Every resource's live objects (for sweeps at start)."""
        return list(self._objects.values())

    def held(self, info: ResourceInfo, obj: dict[str, Any]) -> bool:
        """Whether an object whose finalizers are all gone still waits (a namespace's
        spec.finalizers)."""
        return strategies.for_resource(info).held(obj)

    # ---------------------------------------------------------------- namespaces

    def _check_namespace(
        self, info: ResourceInfo, namespace: str | None, *, creating: bool
    ) -> None:
        if not info.namespaced:
            return
        if not namespace:
            raise errors.bad_request(
                "the namespace must be given for a namespaced resource",
                causes=[Cause("metadata.namespace", "Required value", "FieldValueRequired")],
            )
        entry = self.get_entry(resources.NAMESPACES, None, namespace)
        if entry is None:
            raise errors.not_found(group="", plural="namespaces", name=namespace)
        if creating and entry.obj["metadata"].get("deletionTimestamp"):
            raise StatusError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                name=namespace,
                kind="namespaces",
            )

    # ---------------------------------------------------------------- create

    async def create(
        self,
        info: ResourceInfo,
        version: str,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        strict: bool = False,
    ) -> WriteResult:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON or YAML object")
        strategy = strategies.for_resource(info)
        given_metadata = body.get("metadata")
        if isinstance(given_metadata, dict) and given_metadata.get("resourceVersion"):
            raise errors.bad_request(
                "resourceVersion should not be set on objects to be created",
                causes=[Cause("metadata.resourceVersion", "Forbidden", "FieldValueForbidden")],
            )
        obj = copy.deepcopy(body)
        validation.check_identity(info, version, obj)
        namespace, name = validation.prepare_create(info, namespace, obj, strategy)
        self._check_namespace(info, namespace, creating=True)
        strategy.prepare_for_create(obj, info.version(version))
        obj, warnings = validation.validate_body(info, version, obj, strict=strict, context=self)
        late = strategy.canonicalize(obj, old=None, subresource=None)
        if late:
            raise errors.invalid(kind=info.kind, name=name, group=info.group, causes=late)
        key = info.key(namespace, name)
        bucket = self.bucket(info.group, info.plural)
        generate = str(obj["metadata"].get("generateName") or "")
        generated = generate and not (
            isinstance(given_metadata, dict) and given_metadata.get("name")
        )
        for _ in range(GENERATE_NAME_ATTEMPTS):
            if bucket.get(key) is None or not generated:
                break
            # A generated name that is taken is drawn again, as kube-apiserver does.
            name = obj["metadata"]["name"] = objects.generated_name(generate)
            key = info.key(namespace, name)
        if bucket.get(key) is not None:
            raise errors.already_exists(group=info.group, plural=info.plural, name=name)
        metadata = obj["metadata"]
        metadata["uid"] = objects.new_uid()
        metadata["creationTimestamp"] = objects.now()
        if strategy.tracks_generation:
            metadata["generation"] = 1
        warnings.extend(self._admit("CREATE", info, namespace, name, obj, None))
        if dry_run:
            return WriteResult(obj, orjson.dumps(obj), warnings)
        [data] = await self.commit(info, [(key, ADDED, obj)])
        return WriteResult(obj, data, warnings)

    # ---------------------------------------------------------------- update and patch

    async def update(
        self,
        info: ResourceInfo,
        version: str,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> WriteResult:
        """PUT: a whole new object, which must carry the resourceVersion it was based on."""
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON or YAML object")
        validation.check_identity(info, version, body)
        metadata = body.get("metadata") or {}
        if metadata.get("name") not in (None, name):
            raise errors.bad_request(
                "the name of the object does not match the name on the URL",
                causes=[Cause("metadata.name", f'Invalid value: "{metadata.get("name")}"')],
            )
        if not metadata.get("resourceVersion"):
            raise errors.invalid(
                kind=info.kind,
                name=name,
                group=info.group,
                causes=[
                    Cause(
                        "metadata.resourceVersion",
                        "Invalid value: 0: must be specified for an update",
                    )
                ],
            )
        current = self.get(info, namespace, name)
        if metadata["resourceVersion"] != str(current.rv):
            raise errors.conflict(group=info.group, plural=info.plural, name=name)
        return await self._replace(
            info,
            version,
            namespace,
            name,
            current,
            copy.deepcopy(body),
            subresource=subresource,
            dry_run=dry_run,
            strict=strict,
        )

    async def patch(
        self,
        info: ResourceInfo,
        version: str,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        content_type: str,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> WriteResult:
        current = self.get(info, namespace, name)
        base = self._for_version(current.obj, info, version)
        patched = patching.apply_patch(base, patch, content_type=content_type, builtin=info.builtin)
        given_rv = (patched.get("metadata") or {}).get("resourceVersion")
        if given_rv is not None and given_rv != str(current.rv):
            # A patch carrying a resourceVersion is a conditional update.
            raise errors.conflict(group=info.group, plural=info.plural, name=name)
        validation.check_identity(info, version, patched)
        return await self._replace(
            info,
            version,
            namespace,
            name,
            current,
            patched,
            subresource=subresource,
            dry_run=dry_run,
            strict=strict,
        )

    def _for_version(self, obj: dict[str, Any], info: ResourceInfo, version: str) -> dict[str, Any]:
        result = copy.deepcopy(obj)
        result["apiVersion"] = info.api_version(version)
        return result

    async def _replace(
        self,
        info: ResourceInfo,
        version: str,
        namespace: str | None,
        name: str,
        current: Entry,
        new: dict[str, Any],
        *,
        subresource: str | None,
        dry_run: bool,
        strict: bool,
    ) -> WriteResult:
        old = current.obj
        strategy = strategies.for_resource(info)
        version_info = info.version(version)
        has_status = bool(version_info and version_info.status_subresource)
        if subresource == "status" and not has_status:
            raise errors.not_found(group=info.group, plural=f"{info.plural}/status", name=name)
        strategy.prepare_for_update(old, new, version=version_info, subresource=subresource)
        validation.carry_metadata(info, name, old, new)
        immutable_causes = strategy.validate_update(old, new)
        if immutable_causes:
            raise errors.invalid(
                kind=info.kind, name=name, group=info.group, causes=immutable_causes
            )
        warnings: list[str] = []
        if subresource != "status":
            new, warnings = validation.validate_body(
                info, version, new, strict=strict, context=self
            )
        else:
            new, _ = validation.validate_body(info, version, new, strict=False, context=self)
        strategy.canonicalize(new, old=old, subresource=subresource)
        old_metadata = old["metadata"]
        metadata = new["metadata"]
        metadata["resourceVersion"] = old_metadata["resourceVersion"]
        if strategy.tracks_generation and objects.spec_changed(
            old, new, status_subresource=has_status
        ):
            metadata["generation"] = int(old_metadata.get("generation", 1)) + 1
        warnings.extend(self._admit("UPDATE", info, namespace, name, new, old))
        if new == old:
            # A write that changes nothing bumps nothing and tells no watcher.
            return WriteResult(old, current.data, warnings)
        if dry_run:
            return WriteResult(new, orjson.dumps(new), warnings)
        key = info.key(namespace, name)
        if (
            metadata.get("deletionTimestamp")
            and not metadata.get("finalizers")
            and not strategy.held(new)
        ):
            [data] = await self.commit(info, [(key, DELETED, new)])
            return WriteResult(new, data, warnings)
        [data] = await self.commit(info, [(key, MODIFIED, new)])
        return WriteResult(new, data, warnings)

    # ---------------------------------------------------------------- delete

    async def delete(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        *,
        preconditions: Mapping[str, Any] | None = None,
        dry_run: bool = False,
        propagation: str | None = None,
    ) -> WriteResult:
        """DELETE; ``propagation`` is the DeleteOptions' policy for dependents (``None``:
        Background), see :mod:`statestore.garbage`."""
        current = self.get(info, namespace, name)
        old = current.obj
        preconditions = preconditions or {}
        if preconditions.get("uid") and preconditions["uid"] != old["metadata"]["uid"]:
            raise errors.conflict(
                group=info.group,
                plural=info.plural,
                name=name,
                detail=f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                f"UID in object meta: {old['metadata']['uid']}",
            )
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != str(
            current.rv
        ):
            raise errors.conflict(
                group=info.group,
                plural=info.plural,
                name=name,
                detail=f"Precondition failed: ResourceVersion in precondition: "
                f"{preconditions['resourceVersion']}, ResourceVersion in object meta: "
                f"{current.rv}",
            )
        strategy = strategies.for_resource(info)
        refusal = strategy.validate_delete(old)
        if refusal is not None:
            raise refusal
        warnings = self._admit("DELETE", info, namespace, name, None, old)
        key = info.key(namespace, name)
        finalizers = list(old["metadata"].get("finalizers") or [])
        policy_finalizer = garbage.finalizer_for(propagation)
        if policy_finalizer is not None and policy_finalizer not in finalizers:
            finalizers.append(policy_finalizer)
        cascade = strategy.cascades(old, context=self)
        if not finalizers and not cascade:
            gone = copy.deepcopy(old)
            if dry_run:
                return WriteResult(gone, current.data, warnings)
            [data] = await self.commit(info, [(key, DELETED, gone)])
            return WriteResult(gone, data, warnings)
        if old["metadata"].get("deletionTimestamp"):
            return WriteResult(old, current.data, warnings)  # already being deleted
        new = copy.deepcopy(old)
        new["metadata"]["deletionTimestamp"] = objects.now()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        if finalizers:
            new["metadata"]["finalizers"] = finalizers
        if strategy.tracks_generation:
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        strategy.begin_deletion(new)
        if dry_run:
            return WriteResult(new, orjson.dumps(new), warnings)
        [data] = await self.commit(info, [(key, MODIFIED, new)])
        if cascade:
            self.cascades.start(info, new)
        return WriteResult(new, data, warnings)

    async def delete_collection(
        self,
        info: ResourceInfo,
        namespace: str | None,
        matcher: Callable[[Mapping[str, Any]], bool] | None,
        *,
        dry_run: bool = False,
    ) -> list[WriteResult]:
        _, entries = self.list_entries(info, namespace, matcher)
        results = []
        for entry in entries:
            metadata = entry.obj["metadata"]
            try:
                results.append(
                    await self.delete(
                        info, metadata.get("namespace"), metadata["name"], dry_run=dry_run
                    )
                )
            except StatusError as error:
                if error.code != 404:
                    raise
        return results

    # ---------------------------------------------------------------- watch

    def subscribe(self, prefix: str) -> Watcher:
        watcher = Watcher(
            prefix,
            max_events=self.limits.watch_queue_events,
            max_bytes=self.limits.watch_queue_bytes,
        )
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    async def history(self, after: int, prefix: str) -> list[Event] | None:
        """Events after ``after`` for keys under ``prefix``; ``None`` when compacted away."""
        if after < self.storage.compacted:
            return None
        if self._recent and self._recent[0].rv <= after + 1:
            return [e for e in self._recent if e.rv > after and e.key.startswith(prefix)]
        return await asyncio.to_thread(self._history_from_disk, after, prefix)

    def _history_from_disk(self, after: int, prefix: str) -> list[Event]:
        """Events from the log, each with the object's previous state (which a filtered watch
        needs to turn an object leaving its selection into DELETED, entering it into ADDED)."""
        result = []
        states: dict[str, dict[str, Any] | None] = {}
        for record in self.storage.history(after, prefix):
            if record.key not in states:
                before = self.storage.state_at(record.key, after)
                states[record.key] = orjson.loads(before) if before is not None else None
            obj = orjson.loads(record.value)
            result.append(
                Event(record.rv, record.key, record.event, record.value, obj, states[record.key])
            )
            states[record.key] = None if record.event == DELETED else obj
        return result


def _too_large(info: ResourceInfo, obj: dict[str, Any], size: int, limit: int) -> StatusError:
    """etcd refuses values over its --max-request-bytes; kube-apiserver reports it as 413."""
    name = str(obj.get("metadata", {}).get("name", ""))
    return StatusError(
        413,
        "RequestEntityTooLarge",
        f"Request entity too large: the object would be {size} bytes; the limit is {limit} "
        "bytes (wws store serve --max-object-bytes)",
        name=name,
        group=info.group,
        kind=info.plural,
    )


def event_name(event_type: int) -> str:
    return EVENT_NAMES[event_type]


__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "Entry",
    "Event",
    "Store",
    "Watcher",
    "WriteResult",
    "event_name",
]
