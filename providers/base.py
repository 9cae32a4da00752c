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
import enum
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Self

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


# --- the interface ------------------------------------------------------------------------


class Provider(abc.ABC):
    """A workspace runtime. Methods are coroutines; implementations must not block the
    event loop (run blocking client calls in a thread)."""

    #: The name used in ``spec.provider`` and in the ``wws.providers`` entry-point group.
    name: ClassVar[str]

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

    @abc.abstractmethod
    async def remove_orphans(self, known_uids: Collection[str]) -> list[ManagedObject]:
        """Remove the workspaces and homes whose Workspace UID is not in ``known_uids``
        (left behind by a crash); returns what was removed."""

    @abc.abstractmethod
    async def read_report(self, ref: WorkspaceRef) -> dict[str, Any] | None:
        """The in-workspace agent's last ``report.json`` (see :mod:`providers.agent`), as
        written under :data:`AGENT_STATUS_DIR`; ``None`` when there is none yet (not started,
        or this boot's agent has not written one) or it cannot be read. The provider drops
        the previous boot's report when it starts the workspace, so a report is this boot's."""
