"""The object store: Kubernetes API semantics over the revision log.

The current state lives in memory (loaded from SQLite at start) so that reads never touch
the disk; every change is appended to the log and acknowledged only once durable. All
mutations of the in-memory state happen on the event loop with no ``await`` between reading
the current object and assigning the next resourceVersion, which makes each write atomic
and serialises optimistic-concurrency checks without locks.
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from statestore import errors, objects, patching, resources, schema
from statestore.errors import Cause, StatusError
from statestore.resources import ResourceInfo
from statestore.storage import ADDED, DELETED, EVENT_NAMES, MODIFIED, Record, Storage
from wws import logconfig

log = logconfig.get(__name__)

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public")
NAMESPACE_FINALIZER = "kubernetes"
CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
EVENT_TTL_SECONDS = 3600


@dataclass(slots=True)
class Entry:
    rv: int
    data: bytes
    obj: dict[str, Any]


@dataclass(slots=True)
class Event:
    rv: int
    key: str
    type: int
    data: bytes
    obj: dict[str, Any]
    #: The object before this change (``None`` for ADDED): a filtered watch needs it to tell
    #: an object leaving the selection (→ DELETED) from one that never matched.
    previous: dict[str, Any] | None


@dataclass
class WriteResult:
    obj: dict[str, Any]
    data: bytes
    warnings: list[str] = field(default_factory=list)


class Watcher:
    """One watch stream's inbox; the hub fills it, the HTTP layer drains it."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queue: asyncio.Queue[Event] = asyncio.Queue()


class Store:
    def __init__(self, data_dir: Path, *, history_window: int = 20_000) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.storage = Storage(data_dir / "store.db", window=history_window)
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
        self._background: set[asyncio.Task[None]] = set()
        #: Called with the registry whenever a CRD changes (the OpenAPI cache listens).
        self.on_registry_change: list[Callable[[], None]] = []

    # ---------------------------------------------------------------- start and stop

    async def start(self) -> None:
        loaded = self.storage.load()
        self.revision = loaded.revision
        self.revision_broadcast = loaded.revision
        for record in loaded.current:
            obj = orjson.loads(record.value)
            group, plural, _ = record.key.split("/", 2)
            self._bucket(group, plural)[record.key] = Entry(record.rv, record.value, obj)
            if group == resources.CRD_GROUP and plural == "customresourcedefinitions":
                self._register_crd(obj)
        for namespace in INITIAL_NAMESPACES:
            if self.get_entry(resources.NAMESPACES, None, namespace) is None:
                await self.create(
                    resources.NAMESPACES, "v1", None, {"metadata": {"name": namespace}}
                )
        self._spawn(self._expire_events())
        # Cascades interrupted by a restart (a namespace or CRD being deleted) go on.
        for entry in list(self._bucket("", "namespaces").values()):
            if entry.obj["metadata"].get("deletionTimestamp"):
                self._spawn(self._cascade_namespace(entry.obj["metadata"]["name"]))
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

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- reads

    def _bucket(self, group: str, plural: str) -> dict[str, Entry]:
        bucket = self._objects.get((group, plural))
        if bucket is None:
            bucket = self._objects[(group, plural)] = {}
        return bucket

    def get_entry(self, info: ResourceInfo, namespace: str | None, name: str) -> Entry | None:
        return self._bucket(info.group, info.plural).get(info.key(namespace, name))

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
        bucket = self._bucket(info.group, info.plural)
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

    async def _commit(
        self, info: ResourceInfo, writes: list[tuple[str, int, dict[str, Any]]]
    ) -> list[bytes]:
        """Assign revisions, update memory, persist, then broadcast — in that order."""
        bucket = self._bucket(info.group, info.plural)
        records: list[Record] = []
        events: list[Event] = []
        undo: list[tuple[str, Entry | None]] = []
        for key, event_type, obj in writes:
            self.revision += 1
            rv = self.revision
            obj["metadata"]["resourceVersion"] = str(rv)
            data = orjson.dumps(obj)
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
            for key, previous in reversed(undo):
                if previous is None:
                    bucket.pop(key, None)
                else:
                    bucket[key] = previous
            log.error("store.commit_failed", error=str(error))
            raise StatusError(
                500, "InternalError", f"the write could not be made durable: {error}"
            ) from error
        finally:
            self._in_flight -= 1
            self._wake_settle_waiters()
        return [record.value for record in records]

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
        for event in events:
            self.revision_broadcast = event.rv
            self._recent.append(event)
            for watcher in self._watchers:
                if event.key.startswith(watcher.prefix):
                    watcher.queue.put_nowait(event)
            self._after_event(event)

    def _after_event(self, event: Event) -> None:
        """Server-side reactions: CRDs change what is served; deletions finish cascades."""
        group, plural, namespace, _ = event.key.split("/", 3)
        if group == resources.CRD_GROUP and plural == "customresourcedefinitions":
            if event.type == DELETED:
                names = event.obj["spec"]["names"]
                self.registry.remove(event.obj["spec"]["group"], names["plural"])
            else:
                self._register_crd(event.obj)
            for callback in self.on_registry_change:
                callback()
        if event.type == DELETED and namespace:
            ns = self.get_entry(resources.NAMESPACES, None, namespace)
            if ns is not None and ns.obj["metadata"].get("deletionTimestamp"):
                self._spawn(self._cascade_namespace(namespace))
        if event.type == DELETED and group and group != resources.CRD_GROUP:
            crd = self.get_entry(resources.CRDS, None, f"{plural}.{group}")
            if crd is not None and crd.obj["metadata"].get("deletionTimestamp"):
                self._spawn(self._cascade_crd(crd.obj["metadata"]["name"]))

    def _register_crd(self, crd: dict[str, Any]) -> None:
        try:
            self.registry.add(resources.from_crd(crd))
        except (KeyError, TypeError) as error:
            log.warning("store.crd_unusable", name=crd["metadata"]["name"], error=str(error))

    # ---------------------------------------------------------------- validation

    def _validate_body(
        self,
        info: ResourceInfo,
        version: str,
        obj: dict[str, Any],
        *,
        strict: bool,
    ) -> tuple[dict[str, Any], list[str]]:
        """Schema pruning, defaulting and validation; returns the object and warnings."""
        if objects.too_deep(obj):  # a JSON patch can deepen an object beyond what a body may
            raise errors.bad_request(
                f"the object would nest objects and arrays more than {objects.MAX_DEPTH} "
                "levels deep"
            )
        name = obj.get("metadata", {}).get("name", "")
        causes = objects.check_metadata(obj.get("metadata", {}))
        version_info = info.version(version)
        warnings: list[str] = []
        if version_info is not None and version_info.schema is not None:
            result = schema.process(obj, version_info.schema)
            if result.unknown_fields:
                if strict:
                    raise errors.bad_request(
                        "strict decoding error: "
                        + ", ".join(f'unknown field "{path}"' for path in result.unknown_fields),
                        causes=[
                            Cause(path, "unknown field", "FieldValueInvalid")
                            for path in result.unknown_fields
                        ],
                    )
                warnings.extend(f'unknown field "{path}"' for path in result.unknown_fields)
            obj = result.obj
            causes.extend(result.causes)
        if info is resources.SECRETS:
            causes.extend(objects.normalize_secret(obj))
        if info is resources.CRDS:
            obj = schema.crd_defaults(obj)
            causes.extend(schema.validate_crd(obj))
            causes.extend(self._crd_conflicts(obj))
        if causes:
            raise errors.invalid(kind=info.kind, name=name, group=info.group, causes=causes)
        return obj, warnings

    def _crd_conflicts(self, crd: dict[str, Any]) -> list[Cause]:
        spec = crd.get("spec", {})
        group, plural = spec.get("group"), spec.get("names", {}).get("plural")
        existing = self.registry.get(group, plural) if group and plural else None
        if existing is not None and existing.builtin:
            return [Cause("spec.group", f'Invalid value: "{group}": is served by the store')]
        return []

    @staticmethod
    def _check_identity(info: ResourceInfo, version: str, obj: dict[str, Any]) -> None:
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if kind is not None and kind != info.kind:
            raise errors.bad_request(
                f'the kind "{kind}" in the body does not match the resource '
                f'{info.group_resource} (kind "{info.kind}")',
                causes=[Cause("kind", f'Invalid value: "{kind}": expected "{info.kind}"')],
            )
        if api_version is not None and api_version != info.api_version(version):
            raise errors.bad_request(
                f'the apiVersion "{api_version}" in the body does not match the request '
                f"({info.api_version(version)})",
                causes=[Cause("apiVersion", f'Invalid value: "{api_version}"')],
            )

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
        obj = copy.deepcopy(body)
        self._check_identity(info, version, obj)
        obj["apiVersion"] = info.api_version(info.storage_version.name)
        obj["kind"] = info.kind
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            metadata = obj["metadata"] = {}
        for key in objects.SERVER_MANAGED:
            metadata.pop(key, None)
        if info.namespaced:
            given = metadata.get("namespace")
            if given and namespace and given != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request",
                    causes=[Cause("metadata.namespace", f'Invalid value: "{given}"')],
                )
            namespace = namespace or given
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
            namespace = None
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = objects.generated_name(str(metadata["generateName"]))
        name_causes = objects.check_name(metadata.get("name"), label=info is resources.NAMESPACES)
        if name_causes:
            raise errors.invalid(
                kind=info.kind,
                name=str(metadata.get("name") or ""),
                group=info.group,
                causes=name_causes,
            )
        name: str = metadata["name"]
        self._check_namespace(info, namespace, creating=True)
        version_info = info.version(version)
        if version_info is not None and version_info.status_subresource and not info.builtin:
            obj.pop("status", None)
        if info is resources.NAMESPACES:
            objects.normalize_namespace(obj)
        obj, warnings = self._validate_body(info, version, obj, strict=strict)
        if info is resources.CRDS:
            obj["status"] = objects.crd_status(obj)
            if (
                obj["metadata"]["name"]
                != f"{obj['spec']['names']['plural']}.{obj['spec']['group']}"
            ):
                raise errors.invalid(
                    kind=info.kind,
                    name=name,
                    group=info.group,
                    causes=[
                        Cause(
                            "metadata.name",
                            f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                        )
                    ],
                )
        key = info.key(namespace, name)
        if self._bucket(info.group, info.plural).get(key) is not None:
            raise errors.already_exists(group=info.group, plural=info.plural, name=name)
        metadata = obj["metadata"]
        metadata["uid"] = objects.new_uid()
        metadata["creationTimestamp"] = objects.now()
        if _has_generation(info):
            metadata["generation"] = 1
        if dry_run:
            return WriteResult(obj, orjson.dumps(obj), warnings)
        [data] = await self._commit(info, [(key, ADDED, obj)])
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
        self._check_identity(info, version, body)
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
        self._check_identity(info, version, patched)
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
        version_info = info.version(version)
        has_status = bool(version_info and version_info.status_subresource)
        if subresource == "status":
            if not has_status:
                raise errors.not_found(group=info.group, plural=f"{info.plural}/status", name=name)
            # /status changes only status, whatever else the body says.
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif has_status and not info.builtin:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        new["apiVersion"] = old["apiVersion"]
        new["kind"] = info.kind
        metadata = new.get("metadata")
        if not isinstance(metadata, dict):
            metadata = new["metadata"] = {}
        old_metadata = old["metadata"]
        for immutable in ("name", "namespace", "uid"):
            given = metadata.get(immutable)
            if given not in (None, "") and given != old_metadata.get(immutable):
                raise errors.invalid(
                    kind=info.kind,
                    name=name,
                    group=info.group,
                    causes=[
                        Cause(
                            f"metadata.{immutable}",
                            f'Invalid value: "{given}": field is immutable',
                        )
                    ],
                )
        # Immutable and server-managed fields always come from the stored object.
        for key in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if key in old_metadata:
                metadata[key] = old_metadata[key]
            else:
                metadata.pop(key, None)
        metadata.pop("managedFields", None)
        metadata.pop("selfLink", None)
        if old_metadata.get("deletionTimestamp"):
            added = set(metadata.get("finalizers") or []) - set(
                old_metadata.get("finalizers") or []
            )
            if added:
                raise errors.invalid(
                    kind=info.kind,
                    name=name,
                    group=info.group,
                    causes=[
                        Cause(
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers {sorted(added)}",
                            "FieldValueForbidden",
                        )
                    ],
                )
        if info is resources.CRDS:
            spec_old, spec_new = old.get("spec", {}), new.get("spec", {})
            for immutable in ("group", "scope"):
                if spec_new.get(immutable) != spec_old.get(immutable):
                    raise errors.invalid(
                        kind=info.kind,
                        name=name,
                        group=info.group,
                        causes=[Cause(f"spec.{immutable}", "Invalid value: field is immutable")],
                    )
        if info is resources.NAMESPACES and "spec" not in new:
            new["spec"] = copy.deepcopy(old.get("spec", {}))
        if info is resources.NAMESPACES and subresource != "status":
            new["status"] = copy.deepcopy(old.get("status", {}))
        warnings: list[str] = []
        if subresource != "status":
            new, warnings = self._validate_body(info, version, new, strict=strict)
        else:
            new, _ = self._validate_body(info, version, new, strict=False)
        if info is resources.CRDS and subresource != "status":
            new["status"] = objects.crd_status(new)
        metadata = new["metadata"]
        metadata["resourceVersion"] = old_metadata["resourceVersion"]
        if _has_generation(info) and objects.spec_changed(old, new, status_subresource=has_status):
            metadata["generation"] = int(old_metadata.get("generation", 1)) + 1
        if new == old:
            # A write that changes nothing bumps nothing and tells no watcher.
            return WriteResult(old, current.data, warnings)
        if dry_run:
            return WriteResult(new, orjson.dumps(new), warnings)
        key = info.key(namespace, name)
        if (
            metadata.get("deletionTimestamp")
            and not metadata.get("finalizers")
            and not self._held_by_cascade(info, new)
        ):
            [data] = await self._commit(info, [(key, DELETED, new)])
            return WriteResult(new, data, warnings)
        [data] = await self._commit(info, [(key, MODIFIED, new)])
        return WriteResult(new, data, warnings)

    def _held_by_cascade(self, info: ResourceInfo, obj: dict[str, Any]) -> bool:
        if info is resources.NAMESPACES:
            return NAMESPACE_FINALIZER in (obj.get("spec", {}).get("finalizers") or [])
        return False

    # ---------------------------------------------------------------- delete

    async def delete(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        *,
        preconditions: Mapping[str, Any] | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
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
        key = info.key(namespace, name)
        finalizers = old["metadata"].get("finalizers") or []
        cascade = info is resources.NAMESPACES or (
            info is resources.CRDS and self._crd_has_instances(old)
        )
        if not finalizers and not cascade:
            gone = copy.deepcopy(old)
            if dry_run:
                return WriteResult(gone, current.data)
            [data] = await self._commit(info, [(key, DELETED, gone)])
            return WriteResult(gone, data)
        if old["metadata"].get("deletionTimestamp"):
            return WriteResult(old, current.data)  # already being deleted
        new = copy.deepcopy(old)
        new["metadata"]["deletionTimestamp"] = objects.now()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        if _has_generation(info):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if info is resources.NAMESPACES:
            new.setdefault("status", {})["phase"] = "Terminating"
        if info is resources.CRDS:
            new["metadata"]["finalizers"] = [*finalizers, CRD_FINALIZER]
        if dry_run:
            return WriteResult(new, orjson.dumps(new))
        [data] = await self._commit(info, [(key, MODIFIED, new)])
        if info is resources.NAMESPACES:
            self._spawn(self._cascade_namespace(name))
        if info is resources.CRDS:
            self._spawn(self._cascade_crd(name))
        return WriteResult(new, data)

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

    # ---------------------------------------------------------------- cascades

    def _crd_has_instances(self, crd: dict[str, Any]) -> bool:
        return bool(self._objects.get((crd["spec"]["group"], crd["spec"]["names"]["plural"])))

    async def _delete_all(self, entries: Iterable[Entry], info: ResourceInfo) -> None:
        for entry in list(entries):
            metadata = entry.obj["metadata"]
            if metadata.get("deletionTimestamp"):
                continue
            try:
                await self.delete(info, metadata.get("namespace"), metadata["name"])
            except StatusError as error:
                if error.code != 404:
                    log.warning(
                        "store.cascade_failed",
                        namespace=metadata.get("namespace"),
                        name=metadata["name"],
                        error=str(error),
                    )

    async def _cascade_namespace(self, namespace: str) -> None:
        """The namespace controller's job: delete the contents, then the namespace."""
        for info in self.registry:
            if info.namespaced:
                bucket = self._bucket(info.group, info.plural)
                prefix = info.key_prefix(namespace)
                await self._delete_all([e for k, e in bucket.items() if k.startswith(prefix)], info)
        remaining = any(
            key.startswith(info.key_prefix(namespace))
            for info in self.registry
            if info.namespaced
            for key in self._bucket(info.group, info.plural)
        )
        entry = self.get_entry(resources.NAMESPACES, None, namespace)
        if remaining or entry is None or not entry.obj["metadata"].get("deletionTimestamp"):
            return
        final = copy.deepcopy(entry.obj)
        final.setdefault("spec", {})["finalizers"] = []
        key = resources.NAMESPACES.key(None, namespace)
        if final["metadata"].get("finalizers"):
            await self._commit(resources.NAMESPACES, [(key, MODIFIED, final)])
        else:
            await self._commit(resources.NAMESPACES, [(key, DELETED, final)])

    async def _cascade_crd(self, crd_name: str) -> None:
        entry = self.get_entry(resources.CRDS, None, crd_name)
        if entry is None:
            return
        group = entry.obj["spec"]["group"]
        plural = entry.obj["spec"]["names"]["plural"]
        info = self.registry.get(group, plural)
        bucket = self._bucket(group, plural)
        if info is not None:
            await self._delete_all(bucket.values(), info)
        if bucket:
            return
        final = copy.deepcopy(entry.obj)
        finalizers = [f for f in final["metadata"].get("finalizers", []) if f != CRD_FINALIZER]
        final["metadata"]["finalizers"] = finalizers
        event = MODIFIED if finalizers else DELETED
        if not finalizers:
            final["metadata"].pop("finalizers")
        await self._commit(resources.CRDS, [(resources.CRDS.key(None, crd_name), event, final)])

    async def _expire_events(self) -> None:
        """core/v1 Events live an hour, as in Kubernetes, so they never fill the store."""
        while True:
            await asyncio.sleep(60)
            cutoff = objects.now_minus(EVENT_TTL_SECONDS)
            stale = [
                e
                for e in self._bucket("", "events").values()
                if e.obj["metadata"].get("creationTimestamp", "") < cutoff
            ]
            await self._delete_all(stale, resources.EVENTS)

    # ---------------------------------------------------------------- watch

    def subscribe(self, prefix: str) -> Watcher:
        watcher = Watcher(prefix)
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


def _has_generation(info: ResourceInfo) -> bool:
    """Custom resources and CRDs track generation; core kinds like ConfigMap do not."""
    return not info.builtin or info is resources.CRDS


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
