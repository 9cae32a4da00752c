"""The provider interface: what reconcilers may ask of a runtime (Podman, KVM, ...).

Reconcilers decide, providers act. A provider turns a :class:`DesiredWorkspace` into a
running (or stopped) workspace and reports what it sees as an :class:`Observed`. Every call
is idempotent and safe to repeat after a crash: the provider finds its objects again by
name (derived from the Workspace UID) and labels, never by in-memory state.

The inputs are small frozen dataclasses of this module, not the API models: the controller
fills them from a Workspace's spec, so providers never depend on ``api/``'s classes.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import enum
import hashlib
import json
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Self

from wws import logconfig

log = logconfig.get(__name__)

# --- errors -------------------------------------------------------------------------------


class ProviderError(Exception):
    """The runtime refused or failed an action; the message is fit for ``status.message``."""

    #: A CamelCase reason for the condition that reports it (Kubernetes style).
    reason: str = "ProviderError"


class ProviderUnavailable(ProviderError):
    """The runtime cannot be reached (service down, not installed). Retry later."""

    reason = "ProviderUnavailable"


class ImageNotFound(ProviderError):
    """The workspace image does not exist where the provider looks for it."""

    reason = "ImageNotFound"

    def __init__(self, image: str, hint: str = "") -> None:
        self.image = image
        self.hint = hint
        message = f"image {image} not found"
        super().__init__(f"{message}: {hint}" if hint else message)


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceRef:
    """Which Workspace an external object belongs to. ``uid`` names the objects;
    ``namespace``/``name`` are labels for people; ``organization`` picks the network."""

    namespace: str
    name: str
    uid: str
    organization: str


@dataclass(frozen=True)
class PortSpec:
    """A port inside the workspace that is published on the host: on ``host_ip`` ("": the
    provider's default address, 127.0.0.1) and ``host_port`` (0: a free port the provider
    picks and keeps)."""

    name: str  # "code-server", "ssh", ...
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int = 0


DEFAULT_PORTS: tuple[PortSpec, ...] = (PortSpec("code-server", 8080), PortSpec("ssh", 22))

# --- the in-workspace agent's contract ----------------------------------------------------
# (docs/workspace-agent.md; the files' contents are built by :mod:`providers.agent`)

#: Where every provider makes :attr:`DesiredWorkspace.config_files` available inside the
#: workspace, read-only, and keeps them up to date while it runs.
AGENT_CONFIG_DIR = "/run/wws/config"
#: A writable folder inside the workspace whose ``report.json`` the provider reads back
#: (:meth:`Provider.read_report`).
AGENT_STATUS_DIR = "/run/wws/status"
AGENT_REPORT_FILE = "report.json"
#: Config files under this folder are secrets: mode 0600, never logged.
AGENT_SECRETS_PREFIX = "secrets/"
#: Bumped when the way providers deliver config/status changes shape (part of the config
#: hash, so workspaces made for an older contract are re-created once).
AGENT_CONTRACT_VERSION = 1


def check_config_path(path: str) -> PurePosixPath:
    """A config file's path: relative, normalised, no ``..``; raises :class:`ValueError`."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"config file path {path!r} must be relative, without '.' or '..'")
    return pure


def is_secret_path(path: str) -> bool:
    return path.startswith(AGENT_SECRETS_PREFIX)


@dataclass(frozen=True)
class DesiredWorkspace:
    """What the workspace should be. ``cpu`` in cores and ``memory_bytes`` of 0 mean no
    limit. ``config_hash`` names the container-shaping part of the spec: when it differs
    from the running container's, the container is re-created (the home is kept). Left
    empty, :meth:`effective_config_hash` derives it from the fields here.

    ``config_files`` (relative path → content) is what the in-workspace agent reads under
    :data:`AGENT_CONFIG_DIR`: ``workspace.json`` and ``secrets/...`` (see
    :mod:`providers.agent`). They are *not* part of the config hash: the provider updates
    them in place, without re-creating or restarting the workspace, and the agent applies
    the change (a new bootstrap script, keys, token, ...) while it runs."""

    ref: WorkspaceRef
    image: str
    cpu: float = 0.0
    memory_bytes: int = 0
    disk_bytes: int = 0
    home_size_bytes: int = 0
    ports: tuple[PortSpec, ...] = DEFAULT_PORTS
    env: Mapping[str, str] = field(default_factory=dict)
    running: bool = True
    config_hash: str = ""
    network_group: str = ""
    """Workspaces of one organization with the same non-empty ``network_group`` (a team
    whose policy lets its workspaces meet) share a network and reach each other; with
    "" a workspace reaches no other workspace (its port on the organization's network is
    isolated). Part of the config hash: a change re-creates the container on the other
    network (the home is kept)."""
    # NB: never in a repr: the files hold secrets.
    config_files: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for path in self.config_files:
            check_config_path(path)

    def effective_config_hash(self) -> str:
        if self.config_hash:
            return self.config_hash
        shape = {
            "agent": AGENT_CONTRACT_VERSION,
            "image": self.image,
            "cpu": float(self.cpu),
            "memory": self.memory_bytes,
            "disk": self.disk_bytes,
            "ports": [_port_shape(p) for p in self.ports],
            "env": dict(sorted(self.env.items())),
        }
        if self.network_group:  # NB: absent when "", so older workspaces keep their hash
            shape["network"] = self.network_group
        return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _port_shape(port: PortSpec) -> list[Any]:
    shape: list[Any] = [port.name, port.container_port, port.protocol]
    if port.host_ip or port.host_port:  # NB: defaults keep the hashes of older workspaces
        shape += [port.host_ip, port.host_port]
    return shape


# --- outputs ------------------------------------------------------------------------------


class State(enum.StrEnum):
    ABSENT = "absent"  # no container/VM (the home may still exist)
    CREATED = "created"  # exists, never started
    RUNNING = "running"
    STOPPED = "stopped"  # ended cleanly (asked to stop, exit 0)
    EXITED = "exited"  # ended on its own or was killed (exit code != 0)
    FAILED = "failed"  # the runtime reports an error (OOM, start failure, dead)


@dataclass(frozen=True)
class PublishedPort:
    name: str
    container_port: int
    host_ip: str
    host_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class Observed:
    """What the provider sees now. ``home_exists`` feeds HomeReady; ``config_hash`` is the
    hash the existing container was made from ("" when absent)."""

    state: State
    ports: tuple[PublishedPort, ...] = ()
    started_at: datetime | None = None
    message: str = ""
    config_hash: str = ""
    image: str = ""
    exit_code: int | None = None
    home_exists: bool = False
    runtime_id: str = ""  # container or domain id, for logs and events
    accelerator: str = ""  # VMs: "kvm" (hardware) or "qemu" (software emulation)

    def host_port(self, name: str) -> int | None:
        """The host port that the port called ``name`` is published on, if any."""
        for port in self.ports:
            if port.name == name:
                return port.host_port
        return None


@dataclass(frozen=True)
class ManagedObject:
    """An external object carrying WWS labels, as found by :meth:`Provider.list_managed`."""

    kind: str  # "container", "volume", "network", "vm", "disk"
    name: str
    uid: str = ""  # of the Workspace it belongs to ("" for shared objects, e.g. networks)
    namespace: str = ""
    workspace: str = ""
    organization: str = ""


@dataclass(frozen=True)
class ProviderSettings:
    """What every provider is given: a data dir of its own and free-form options
    (from the controller's configuration, e.g. ``{"socket": "/run/podman.sock"}``)."""

    data_dir: Path
    options: Mapping[str, str] = field(default_factory=dict)


class ChangeKind(enum.StrEnum):
    WORKSPACE = "workspace"  # a container/VM started, stopped, died, was made or removed
    REPORT = "report"  # the in-workspace agent wrote a new report
    CONNECTED = "connected"  # the stream is (again) connected: anything may have changed


@dataclass(frozen=True)
class Change:
    """One change a provider's runtime reported (:meth:`Provider.subscribe`). ``uid`` names
    the Workspace ("" for :attr:`ChangeKind.CONNECTED`); ``action`` is the runtime's own
    word for it (Podman's ``died``, ``start``, ``remove``, ...), for logs."""

    kind: ChangeKind
    uid: str = ""
    action: str = ""


#: The kinds of :class:`ManagedObject` that are a workspace itself (not its home, network).
WORKSPACE_KINDS = frozenset({"container", "vm"})


def orphans(
    objects: Collection[ManagedObject],
    known_uids: Collection[str],
    namespaces: Collection[str] | None = None,
) -> dict[str, builtins.list[ManagedObject]]:
    """The one orphan rule: Workspace UID → its objects that are orphans.

    An object is an orphan when its Workspace UID is not in ``known_uids`` *and*, when
    ``namespaces`` is given, its namespace is one of them: objects of namespaces the API
    server does not know (another store, another cluster sharing the runtime, a store
    restored empty) are left alone, so pointing a controller at the wrong API server never
    deletes homes. Shared objects (no UID: networks) are never orphans of their own; they
    go with their last workspace.
    """
    known = set(known_uids)
    allowed = None if namespaces is None else set(namespaces)
    found: dict[str, builtins.list[ManagedObject]] = {}
    for obj in objects:
        if not obj.uid or obj.uid in known:
            continue
        if allowed is not None and obj.namespace not in allowed:
            continue
        found.setdefault(obj.uid, []).append(obj)
    return found


# --- the interface ------------------------------------------------------------------------


class Provider(abc.ABC):
    """A workspace runtime. Methods are coroutines; implementations must not block the
    event loop (run blocking client calls in a thread)."""

    #: The name used in ``spec.provider`` and in the ``wws.providers`` entry-point group.
    name: ClassVar[str]
    #: Whether :meth:`subscribe` reports the agents' new reports (:attr:`ChangeKind.REPORT`);
    #: when not, the controller looks at a starting workspace's report every second.
    reports_changes: ClassVar[bool] = False

    @property
    def host(self) -> str:
        """The machine the workspaces run on: the controller bounds the starts and deletes
        at once per host as well as per provider. Default: this machine (``"local"``)."""
        return "local"

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> Self:
        """Build the provider from the controller's settings (override to read options)."""
        return cls()

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect (and start the runtime's service when needed). Idempotent."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and anything :meth:`open` started. Workspaces keep running."""

    @abc.abstractmethod
    async def ensure(self, desired: DesiredWorkspace) -> Observed:
        """Converge on ``desired``: create the home and the workspace if missing, re-create
        the workspace (home kept) when its config hash changed, start it when
        ``desired.running`` (stop it otherwise). Idempotent: a converged workspace is left
        untouched. Raises :class:`ImageNotFound` when the image is missing."""

    @abc.abstractmethod
    async def stop(self, ref: WorkspaceRef) -> None:
        """Stop the workspace, keeping it and its home. Absent or stopped: nothing to do."""

    @abc.abstractmethod
    async def delete(self, ref: WorkspaceRef) -> None:
        """Remove the workspace and its home, from any state. Absent: nothing to do."""

    @abc.abstractmethod
    async def observe(self, ref: WorkspaceRef) -> Observed:
        """The workspace's current state; :attr:`State.ABSENT` when it does not exist."""

    @abc.abstractmethod
    async def list_managed(self) -> list[ManagedObject]:
        """Every object of this provider that carries WWS labels."""

    async def list_leftovers(self, managed: Collection[ManagedObject]) -> list[ManagedObject]:
        """Objects this provider made that carry no labels of their own (a host folder),
        of workspaces that have no object in ``managed`` (:meth:`list_managed`'s answer)
        any more, with the Workspace they belong to as far as they record it. Default:
        none."""
        return []

    async def inventory(self) -> list[ManagedObject]:
        """Everything this provider holds for workspaces: :meth:`list_managed`, then
        :meth:`list_leftovers`."""
        managed = await self.list_managed()
        return [*managed, *await self.list_leftovers(managed)]

    async def remove_orphans(
        self,
        known_uids: Collection[str],
        *,
        namespaces: Collection[str] | None = None,
        inventory: Collection[ManagedObject] | None = None,
    ) -> list[ManagedObject]:
        """Remove what this provider holds for Workspaces that no longer exist (left
        behind by a crash), by the one rule of :func:`orphans`, with :meth:`delete` (so the
        workspace, its home, its host folder and an unused network go together); returns
        what was removed. A workspace that cannot be removed is logged and skipped (the
        next sweep tries again).

        ``inventory``: :meth:`inventory`'s answer, when the caller took it *before* it
        read ``known_uids`` (so a workspace made in between is never taken for an orphan);
        without it, the provider lists its objects now."""
        held = await self.inventory() if inventory is None else inventory
        removed: list[ManagedObject] = []
        for uid, objects in orphans(held, known_uids, namespaces).items():
            first = objects[0]
            ref = WorkspaceRef(
                namespace=first.namespace,
                name=first.workspace,
                uid=uid,
                organization=first.organization or first.namespace,
            )
            try:
                await self.delete(ref)
            except Exception as error:
                log.warning(
                    "orphan not removed",
                    provider=self.name,
                    namespace=ref.namespace,
                    name=ref.name,
                    uid=uid,
                    error=str(error),
                )
                continue
            for obj in objects:
                log.info(
                    "orphan removed",
                    provider=self.name,
                    kind=obj.kind,
                    object=obj.name,
                    namespace=obj.namespace,
                    name=obj.workspace,
                    uid=uid,
                )
            removed.extend(objects)
        return removed

    @abc.abstractmethod
    async def read_report(self, ref: WorkspaceRef) -> dict[str, Any] | None:
        """The in-workspace agent's last ``report.json`` (see :mod:`providers.agent`), as
        written under :data:`AGENT_STATUS_DIR`; ``None`` when there is none yet (not started,
        or this boot's agent has not written one) or it cannot be read. The provider drops
        the previous boot's report when it starts the workspace, so a report is this boot's."""

    # --- moving a home to another provider --------------------------------------------------

    async def export_home(self, ref: WorkspaceRef, dest: Path) -> None:
        """Copy the workspace's home into the empty host folder ``dest``, exactly (owners,
        modes, symbolic and hard links, timestamps: :func:`providers.homes.copy_tree`).
        The workspace must be stopped (:class:`ProviderError` otherwise); the home is left
        as it is. Default: not supported."""
        raise ProviderError(f"the {self.name} provider cannot export a home")

    async def import_home(self, ref: WorkspaceRef, source: Path, *, size_bytes: int = 0) -> None:
        """Make the workspace's home from the files of the host folder ``source``, replacing
        a home that exists here (the workspace must be stopped or absent). Default: not
        supported."""
        raise ProviderError(f"the {self.name} provider cannot import a home")

    # --- following many workspaces at once (the controller at scale) -----------------------

    async def list(self) -> dict[str, Observed]:
        """Every workspace of this provider, observed, by Workspace UID, in one batched
        listing (labels select WWS's objects): what a resync compares with the statuses
        instead of one :meth:`observe` per workspace. A UID that is missing has neither a
        workspace nor a home here (:attr:`State.ABSENT`, ``home_exists`` False); one with
        only its home is :attr:`State.ABSENT` with ``home_exists``. The answer may be
        coarser than :meth:`observe`'s (no failure message): it finds drift, the reconcile
        that follows looks closer. Default: :meth:`list_managed`, then :meth:`observe` of
        each workspace found (override with one call to the runtime)."""
        found: dict[str, Observed] = {}
        managed = await self.list_managed()
        for obj in managed:
            if obj.kind in WORKSPACE_KINDS and obj.uid and obj.uid not in found:
                ref = WorkspaceRef(obj.namespace, obj.workspace, obj.uid, obj.organization)
                found[obj.uid] = await self.observe(ref)
        for obj in managed:
            if obj.uid and obj.uid not in found and obj.kind not in WORKSPACE_KINDS:
                found[obj.uid] = Observed(state=State.ABSENT, home_exists=True)
        return found

    async def subscribe(self) -> AsyncIterator[Change]:
        """The runtime's changes as they happen, for as long as the connection lasts.

        The stream's first item is a :attr:`ChangeKind.CONNECTED` once it is connected;
        then one :class:`Change` per workspace event (a container/VM started, stopped,
        died, was created or removed: :attr:`ChangeKind.WORKSPACE`) and per new agent
        report (:attr:`ChangeKind.REPORT`). Only WWS's objects (by label) are reported.
        The iterator ends, or raises :class:`ProviderError`, when the connection is lost:
        the caller subscribes again and, on the next CONNECTED, re-lists (:meth:`list`),
        so nothing that happened in between is missed. Cancelling the consumer closes the
        stream.

        Default, for a runtime without events: CONNECTED, then nothing until cancelled
        (the caller's periodic :meth:`list` finds every change)."""
        yield Change(ChangeKind.CONNECTED)
        await asyncio.Event().wait()
