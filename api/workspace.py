"""Workspace: one developer environment, a Podman container or a KVM virtual machine.

Namespaced, in the organization's namespace. The spec is what the user asks for; the
controller never writes it. What happened shows in the status: ``phase`` (derived from the
conditions), the conditions themselves (``Ready`` summarises), ``endpoints`` and, when the
workspace is stopped without being asked to, ``stopReason``.

Restart, and start again after an idle stop, are requested by setting the annotation
``wws.dev/restartedAt`` (:data:`RESTARTED_AT_ANNOTATION`) to a new timestamp, as
``kubectl rollout restart`` does; the controller records the value it acted on in
``status.observedRestartedAt``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from api import formats, languages, meta

RESTARTED_AT_ANNOTATION = f"{meta.GROUP}/restartedAt"
"""Set to a new timestamp to restart the workspace (or start it again after an idle stop)."""
ACTIVITY_ANNOTATION = f"{meta.GROUP}/lastActivityTime"
"""Set by the web UI's editor proxy (RFC 3339) when it forwarded traffic: activity."""

DEFAULT_IMAGE = "localhost/wws/workspace:bookworm"


class Shell(enum.StrEnum):
    """The owner's login shell."""

    ZSH = "zsh"
    BASH = "bash"
    FISH = "fish"


class Phase(enum.StrEnum):
    """Where the workspace is in its life, derived from its conditions."""

    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    STARTING = "Starting"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    DELETING = "Deleting"


class StopReason(enum.StrEnum):
    """Known values of ``status.stopReason`` (the field takes any CamelCase word)."""

    REQUESTED = "Requested"
    IDLE = "Idle"
    QUOTA = "Quota"
    POLICY = "Policy"
    FAILED = "Failed"


class ConditionType(enum.StrEnum):
    """The condition types a Workspace reports; ``Ready`` is the summary."""

    READY = "Ready"
    IMAGE_READY = "ImageReady"
    HOME_READY = "HomeReady"
    CONTAINER_READY = "ContainerReady"
    USER_READY = "UserReady"
    DOTFILES_READY = "DotfilesReady"
    BOOTSTRAP_READY = "BootstrapReady"
    LANGUAGES_READY = "LanguagesReady"
    EDITOR_READY = "EditorReady"
    SSH_READY = "SSHReady"
    GITHUB_READY = "GitHubReady"
    QUOTA_EXCEEDED = "QuotaExceeded"
    IDLE = "Idle"


class PortProtocol(enum.StrEnum):
    """How a published port is used."""

    HTTP = "http"
    TCP = "tcp"


class LanguageState(enum.StrEnum):
    """Where the installation of a language is."""

    PENDING = "Pending"
    INSTALLING = "Installing"
    INSTALLED = "Installed"
    FAILED = "Failed"


def _known_language(value: Any) -> str:
    known = languages.known()
    if value not in known:
        raise ValueError(f"unknown language {value!r}; known languages: {', '.join(known)}")
    return str(value)


LanguageName = Annotated[
    str,
    BeforeValidator(_known_language),
    WithJsonSchema({"type": "string", "enum": list(languages.known())}),
]


class Resources(meta.Model):
    """Compute and disk of the workspace (Kubernetes quantities, given as strings)."""

    cpu: formats.Quantity = "2"
    """CPU cores, e.g. "2" or "500m"."""
    memory: formats.Quantity = "4Gi"
    """Memory, e.g. 4Gi."""
    disk: formats.Quantity = "20Gi"
    """Space of the system disk (packages, tools; not the home), e.g. 20Gi."""


class Home(meta.Model):
    """The persistent home directory: kept on stop, restart and re-creation."""

    size: formats.Quantity = "10Gi"
    """Size of the home volume, e.g. 10Gi."""
    retention: formats.Duration | None = None
    """How long the home is kept after the Workspace is deleted, e.g. 168h; unset: it is
    deleted with the Workspace."""


class SecretKeyRef(meta.Model):
    """A key of a Secret in the workspace's namespace."""

    name: formats.DNSSubdomain
    """The Secret's name."""
    key: formats.SecretKey = "token"
    """The key in the Secret's data."""


class GitHub(meta.Model):
    """GitHub credentials for ``gh`` and git over HTTPS inside the workspace."""

    token_secret_ref: SecretKeyRef
    """The Secret key that holds the owner's GitHub token; it is never written to logs,
    events or status."""


class Git(meta.Model):
    """The git identity of the owner inside the workspace."""

    user_name: formats.GitUserName | None = None
    """git ``user.name``, e.g. "Alice Liddell"."""
    user_email: formats.Email | None = None
    """git ``user.email``, e.g. alice@example.com."""


class SSH(meta.Model):
    """SSH access for desktop editors (VS Code Remote-SSH, JetBrains Gateway) and terminals."""

    authorized_keys: list[formats.SSHPublicKey] = Field(
        default_factory=list, max_length=64, json_schema_extra=meta.LIST_SET
    )
    """Public keys that may log in as the owner (password login is off)."""
    publish_address: formats.IPAddress = "127.0.0.1"
    """The host address the SSH port is published on."""
    host_port: int | None = Field(default=None, ge=1, le=65535)
    """A fixed host port for SSH; unset: the provider picks one and keeps it."""


class Dotfiles(meta.Model):
    """A dotfiles repository, cloned with yadm into the home once."""

    repo: formats.GitRepository
    """The repository, e.g. https://github.com/alice/dotfiles."""
    timeout: formats.Duration = "120s"
    """How long the clone and ``yadm bootstrap`` may take together."""


class Bootstrap(meta.Model):
    """A script run as the owner once per home, and again when it changes."""

    script: str = Field(min_length=1, max_length=65536)
    """The script, run with the owner's shell in the home directory, e.g. "make setup"."""
    timeout: formats.Duration = "30m"
    """How long the script may run."""


def _language_versions_rule() -> dict[str, Any]:
    """The CEL rule that a real API server uses to refuse unknown versions."""
    alternatives = []
    for definition in languages.known().values():
        if definition.versions:
            listed = ", ".join(f"'{version}'" for version in definition.versions)
            alternatives.append(f"(self.name == '{definition.name}' && self.version in [{listed}])")
        else:
            alternatives.append(f"self.name == '{definition.name}'")
    return {
        "x-kubernetes-validations": [
            {
                "rule": " || ".join(["!has(self.version)", *alternatives]),
                "message": f"unknown version; known: {languages.describe_known()}",
            }
        ]
    }


class Language(meta.Model):
    """A language toolchain to install in the workspace."""

    model_config = ConfigDict(json_schema_extra=_language_versions_rule())

    name: LanguageName
    """The language; one of the registry in api/languages/ (operators can add their own)."""
    version: formats.LanguageVersion | None = None
    """The version; unset: the language's default (the first known version)."""

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: str | None, info: ValidationInfo) -> str | None:
        name = info.data.get("name")
        definition = languages.known().get(name) if isinstance(name, str) else None
        if version is None or definition is None or not definition.versions:
            return version
        if version not in definition.versions:
            raise ValueError(
                f"unknown version {version!r} of {definition.name};"
                f" known versions: {', '.join(definition.versions)}"
            )
        return version


class Editors(meta.Model):
    """The editors the workspace serves."""

    code_server: bool = True
    """VS Code in the browser (code-server)."""
    ssh: bool = True
    """An SSH server for desktop editors and terminals."""


class Idle(meta.Model):
    """When an unused workspace is stopped."""

    timeout: formats.Duration = "30m"
    """Stop the workspace after this long without activity, e.g. 30m or 8h; 0: never."""


class Port(meta.Model):
    """A port of the workspace to publish, e.g. a development web server."""

    name: formats.DNSLabel
    """A name for the port, e.g. web."""
    port: int = Field(ge=1, le=65535)
    """The port inside the workspace."""
    protocol: PortProtocol = PortProtocol.HTTP
    """http: reachable through the web UI's proxy; tcp: a plain published port."""


class WorkspaceSpec(meta.Model):
    """The desired state of a Workspace."""

    owner: formats.GitHubLogin
    """The GitHub login of the person the workspace belongs to; their user inside it."""
    team: formats.DNSLabel | None = None
    """A Team in the same namespace to share the workspace with, per the members' roles."""
    provider: meta.Provider = meta.Provider.PODMAN
    """Where the workspace runs: podman (a container) or kvm (a virtual machine)."""
    running: bool = True
    """Whether the workspace should run; false stops it and keeps the home."""
    image: formats.Image = DEFAULT_IMAGE
    """The workspace image (container image, or the root of a VM disk)."""
    resources: Resources = Field(
        default_factory=Resources, json_schema_extra=meta.DEFAULT_EMPTY_OBJECT
    )
    """CPU, memory and disk."""
    home: Home = Field(default_factory=Home, json_schema_extra=meta.DEFAULT_EMPTY_OBJECT)
    """The persistent home directory."""
    shell: Shell = Shell.ZSH
    """The owner's login shell: zsh, bash or fish."""
    git: Git | None = None
    """The owner's git identity; unset: git asks for it."""
    github: GitHub | None = None
    """GitHub credentials for gh and git; unset: none."""
    ssh: SSH = Field(default_factory=SSH, json_schema_extra=meta.DEFAULT_EMPTY_OBJECT)
    """SSH access: authorized keys and where the port is published."""
    dotfiles: Dotfiles | None = None
    """A dotfiles repository cloned with yadm; unset: none."""
    bootstrap: Bootstrap | None = None
    """A setup script run once per home; unset: none."""
    languages: list[Language] = Field(
        default_factory=list, max_length=32, json_schema_extra=meta.list_map("name")
    )
    """Language toolchains to install, e.g. [{name: python, version: "3.11"}, {name: go}]."""
    editors: Editors = Field(default_factory=Editors, json_schema_extra=meta.DEFAULT_EMPTY_OBJECT)
    """The editors the workspace serves."""
    idle: Idle = Field(default_factory=Idle, json_schema_extra=meta.DEFAULT_EMPTY_OBJECT)
    """When an unused workspace is stopped."""
    ports: list[Port] = Field(
        default_factory=list, max_length=32, json_schema_extra=meta.list_map("name")
    )
    """Further ports to publish, e.g. a development web server."""

    @field_validator("languages")
    @classmethod
    def _unique_languages(cls, value: list[Language]) -> list[Language]:
        meta.refuse_duplicates([language.name for language in value], what="language")
        return value

    @field_validator("ports")
    @classmethod
    def _unique_ports(cls, value: list[Port]) -> list[Port]:
        meta.refuse_duplicates([port.name for port in value], what="port name")
        meta.refuse_duplicates([str(port.port) for port in value], what="port")
        return value


class PortEndpoint(meta.StatusModel):
    """Where a published port of ``spec.ports`` is reachable."""

    name: str
    """The port's name from ``spec.ports``."""
    port: int
    """The port inside the workspace."""
    host_port: int | None = None
    """The port on the host."""
    url: str | None = None
    """The URL of an http port."""


class Endpoints(meta.StatusModel):
    """Where the running workspace is reachable."""

    code_server: str | None = None
    """The URL of VS Code in the browser."""
    code_server_password_secret_ref: SecretKeyRef | None = None
    """The Secret key that holds code-server's password."""
    ssh: str | None = None
    """The exact command to log in, e.g. ``ssh -p 42022 alice@127.0.0.1``."""
    ssh_host: str | None = None
    """The host address of the SSH port."""
    ssh_port: int | None = None
    """The host port of SSH."""
    ports: list[PortEndpoint] = Field(default_factory=list, json_schema_extra=meta.list_map("name"))
    """The ports of ``spec.ports``."""


class Runtime(meta.StatusModel):
    """How and where the workspace runs, as the provider reports it."""

    provider: str | None = None
    """The provider that runs the workspace."""
    host: str | None = None
    """The host the workspace runs on."""
    id: str | None = None
    """The provider's identifier of the container or virtual machine."""
    accelerator: str | None = None
    """For virtual machines: kvm (hardware) or qemu (software emulation)."""
    image_id: str | None = None
    """The identifier of the image the workspace was created from."""


class LanguageStatus(meta.StatusModel):
    """The installation of one language of ``spec.languages``."""

    name: str
    """The language."""
    version: str | None = None
    """The installed version, as the toolchain reports it (e.g. 3.11.2)."""
    state: LanguageState | None = None
    """Pending, Installing, Installed or Failed."""
    message: str | None = None
    """Why the installation failed, and where its log is."""


class AgentStatus(meta.StatusModel):
    """The in-workspace agent's report that the conditions were taken from."""

    boot_id: str | None = None
    """The agent's boot: new at every start of the workspace."""
    generation: int | None = None
    """The ``metadata.generation`` whose configuration the agent has applied."""
    started_at: datetime | None = None
    """When the agent of this boot started."""


class WorkspaceStatus(meta.StatusModel):
    """The observed state of a Workspace, written by the controller."""

    phase: Phase | None = None
    """Pending, Provisioning, Starting, Running, Stopping, Stopped, Failed or Deleting."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` this status was computed from."""
    conditions: list[meta.Condition] = Field(
        default_factory=list, json_schema_extra=meta.list_map("type")
    )
    """Ready (the summary) and one condition per step: ImageReady, HomeReady, ContainerReady
    (the controller's); UserReady, SSHReady, EditorReady, LanguagesReady, DotfilesReady,
    BootstrapReady (the in-workspace agent's report); GitHubReady (the token's Secret). Ready
    is True when ImageReady, HomeReady, ContainerReady, UserReady, LanguagesReady and, for
    the editors turned on, EditorReady and SSHReady are True for the current generation;
    DotfilesReady, BootstrapReady and GitHubReady are reported but do not make it False."""
    message: str | None = None
    """The message of the first failing condition, if any."""
    endpoints: Endpoints = Field(default_factory=Endpoints)
    """Where the running workspace is reachable."""
    runtime: Runtime | None = None
    """How and where the workspace runs."""
    languages: list[LanguageStatus] = Field(
        default_factory=list, json_schema_extra=meta.list_map("name")
    )
    """The installation of each language of ``spec.languages``."""
    agent: AgentStatus | None = None
    """The in-workspace agent's last report that the conditions were taken from."""
    started_at: datetime | None = None
    """When the workspace last started."""
    last_activity_time: datetime | None = None
    """When someone last used the workspace (editor, SSH); the idle timeout counts from it."""
    last_activity_source: str | None = None
    """What that activity was: ssh, tmux, code-server, webui (the editor proxy) or start (a
    start or wake counts as activity)."""
    stop_reason: formats.Reason | None = None
    """Why the workspace is stopped when it was not asked to be: Idle, Quota, Policy,
    Failed; Requested when ``spec.running`` is false."""
    observed_restarted_at: str | None = None
    """The value of the ``wws.dev/restartedAt`` annotation the controller last acted on."""


class Workspace(meta.Resource):
    """A developer workspace: a Podman container or a KVM virtual machine with the owner's
    shell, dotfiles, tools, editors and a home directory that is never lost.

    Lives in the organization's namespace. Set ``spec.running`` to start or stop it; set the
    annotation ``wws.dev/restartedAt`` to a new timestamp to restart it (or start it again
    after an idle stop).
    """

    RESOURCE = meta.ResourceInfo(
        kind="Workspace",
        plural="workspaces",
        singular="workspace",
        namespaced=True,
        short_names=("ws",),
        printer_columns=(
            meta.PrinterColumn(
                name="Owner",
                type="string",
                json_path=".spec.owner",
                description="The GitHub login of the owner.",
            ),
            meta.PrinterColumn(
                name="Provider",
                type="string",
                json_path=".spec.provider",
                description="Where the workspace runs.",
            ),
            meta.PrinterColumn(
                name="Phase",
                type="string",
                json_path=".status.phase",
                description="Where the workspace is in its life.",
            ),
            meta.READY_COLUMN,
            meta.AGE,
            meta.PrinterColumn(
                name="Team",
                type="string",
                json_path=".spec.team",
                description="The team the workspace is shared with.",
                priority=1,
            ),
            meta.PrinterColumn(
                name="Last Activity",
                type="date",
                json_path=".status.lastActivityTime",
                description="When someone last used the workspace.",
                priority=1,
            ),
            meta.PrinterColumn(
                name="Activity",
                type="string",
                json_path=".status.lastActivitySource",
                description="What that activity was (ssh, tmux, code-server, webui, start).",
                priority=1,
            ),
            meta.PrinterColumn(
                name="Editor",
                type="string",
                json_path=".status.endpoints.codeServer",
                description="The URL of VS Code in the browser.",
                priority=1,
            ),
            meta.PrinterColumn(
                name="SSH",
                type="string",
                json_path=".status.endpoints.ssh",
                description="The command to log in over SSH.",
                priority=1,
            ),
        ),
    )

    kind: Literal["Workspace"] = "Workspace"
    """``Workspace``."""
    spec: WorkspaceSpec
    """The desired state, written by people and GitOps tools, never by the controller."""
    status: WorkspaceStatus = Field(default_factory=WorkspaceStatus)
    """The observed state, written by the controller."""
