"""Step 1 of a reconcile: what the workspace should be now (pure: reads the object only),
and what the provider is given: the desired workspace, its ports and the agent's config files."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping

from api import units
from api.workspace import (
    RESTARTED_AT_ANNOTATION,
    StopReason,
    Workspace,
    WorkspaceSpec,
)
from providers import agent, base
from reconcilers.quota import Refusal
from reconcilers.workspace.vocabulary import CODE_SERVER_PORT, HELD_REASONS, SSH_PORT


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the controller should make of a workspace now."""

    desired: base.DesiredWorkspace
    """What :meth:`providers.base.Provider.ensure` gets (``desired.running`` included)."""
    restart: bool
    """Stop the workspace before ``ensure`` starts it again (a new restart annotation)."""
    restarted_at: str | None
    """The restart annotation's value, recorded in ``status.observedRestartedAt`` once acted
    on."""
    stop_reason: str | None
    """Why the workspace should not run (Requested, Idle, ...); ``None``: it should run."""
    refusal: Refusal | None = None
    """Why it may not start now (a quota, the organization's policy), when that holds it."""

    @property
    def ref(self) -> base.WorkspaceRef:
        return self.desired.ref

    @property
    def running(self) -> bool:
        return self.desired.running


def ref_of(workspace: Workspace) -> base.WorkspaceRef:
    """The provider's handle of a workspace. The organization is the namespace's (an
    Organization owns the namespace of its own name)."""
    meta_ = workspace.metadata
    namespace = meta_.namespace or ""
    return base.WorkspaceRef(
        namespace=namespace, name=meta_.name, uid=meta_.uid or "", organization=namespace
    )


def ports_of(spec: WorkspaceSpec) -> tuple[base.PortSpec, ...]:
    """The ports to publish: the editors' (code-server, ssh) and those of ``spec.ports``.

    NB: a port of ``spec.ports`` that repeats an editor's name or port number is served by
    the editor's published port (one container port is published once).
    """
    ports: list[base.PortSpec] = []
    if spec.editors.code_server:
        ports.append(CODE_SERVER_PORT)
    if spec.editors.ssh:
        ports.append(
            dataclasses.replace(
                SSH_PORT,
                host_ip=str(spec.ssh.publish_address),
                host_port=spec.ssh.host_port or 0,
            )
        )
    names = {port.name for port in ports}
    numbers = {port.container_port for port in ports}
    for port in spec.ports:
        if port.name in names or port.port in numbers:
            continue
        ports.append(base.PortSpec(port.name, port.port, "tcp"))
        names.add(port.name)
        numbers.add(port.port)
    return tuple(ports)


def code_server_secret_name(workspace_name: str) -> str:
    """The Secret that holds a workspace's code-server password (key ``password``), made by
    the controller when missing and owned by the Workspace."""
    return f"{workspace_name}-code-server"


@dataclasses.dataclass(frozen=True)
class GitHubToken:
    """What the controller found for ``spec.github.tokenSecretRef``: the token (never in a
    repr, a log, an event or the status) or why there is none, as GitHubReady's reason and
    message."""

    token: str | None = dataclasses.field(default=None, repr=False)
    reason: str = "NotRequested"
    message: str = "no GitHub token asked for (spec.github is not set)"

    @property
    def ok(self) -> bool:
        return self.reason in ("NotRequested", "TokenProvided")


def config_files_of(
    workspace: Workspace, *, code_server_password: str, github: GitHubToken
) -> dict[str, bytes]:
    """The in-workspace agent's config files (:mod:`providers.agent`) for this generation."""
    meta_ = workspace.metadata
    config = agent.workspace_config(
        namespace=meta_.namespace or "",
        name=meta_.name,
        uid=meta_.uid or "",
        generation=meta_.generation or 0,
        spec=workspace.spec.model_dump(mode="json", by_alias=True),
    )
    return agent.config_files(
        config, code_server_password=code_server_password, github_token=github.token
    )


def files_digest(files: Mapping[str, bytes]) -> str:
    """A digest of config files (to tell whether the provider has them already)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path] + b"\0")
    return digest.hexdigest()


def desired_of(
    workspace: Workspace,
    *,
    running: bool,
    config_files: Mapping[str, bytes] | None = None,
    network_group: str = "",
) -> base.DesiredWorkspace:
    """The provider's view of the spec. Its config hash (derived by
    :meth:`~providers.base.DesiredWorkspace.effective_config_hash` from image, limits and
    ports) changes exactly when the container must be re-created; the agent's
    ``config_files`` are not part of it (the provider updates them in place)."""
    spec = workspace.spec
    return base.DesiredWorkspace(
        ref=ref_of(workspace),
        image=spec.image,
        cpu=float(units.parse_quantity(spec.resources.cpu)),
        memory_bytes=int(units.parse_quantity(spec.resources.memory)),
        disk_bytes=int(units.parse_quantity(spec.resources.disk)),
        home_size_bytes=int(units.parse_quantity(spec.home.size)),
        ports=ports_of(spec),
        # NB: no environment of the spec's: the agent reads it all from its config files,
        # so a new owner, shell or editor setting never re-creates the container.
        running=running,
        config_files=dict(config_files or {}),
        network_group=network_group,
    )


def plan(
    workspace: Workspace,
    *,
    config_files: Mapping[str, bytes] | None = None,
    refusal: Refusal | None = None,
    idle: bool = False,
    network_group: str = "",
) -> Plan:
    """What the workspace should be now (pure: reads the object only). ``config_files``:
    the agent's (:func:`config_files_of`), when the controller is about to hand them over;
    ``refusal``: why quotas or the organization's policy keep it from starting now
    (:meth:`reconcilers.quota.Index.gate`); ``idle``: the controller found it idle past its
    timeout (it stays stopped, stopReason Idle, until woken); ``network_group``: the team
    whose workspaces it may reach (:meth:`reconcilers.quota.Index.network_group`)."""
    status = workspace.status
    annotation = workspace.metadata.annotations.get(RESTARTED_AT_ANNOTATION)
    restart_asked = annotation is not None and annotation != status.observed_restarted_at
    stop_reason: str | None = None
    holding: Refusal | None = None
    if not workspace.spec.running:
        stop_reason = StopReason.REQUESTED
    elif status.stop_reason in HELD_REASONS and not restart_asked:
        stop_reason = status.stop_reason
    elif idle and not restart_asked:
        stop_reason = StopReason.IDLE
    elif refusal is not None:
        stop_reason = refusal.stop_reason
        holding = refusal
    running = stop_reason is None
    return Plan(
        desired=desired_of(
            workspace, running=running, config_files=config_files, network_group=network_group
        ),
        # NB: a held workspace that is asked to restart just starts; there is nothing to stop.
        restart=restart_asked and running and status.stop_reason not in HELD_REASONS,
        restarted_at=annotation,
        stop_reason=stop_reason,
        refusal=holding,
    )
