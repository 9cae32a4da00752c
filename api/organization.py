"""Organization: a company or group, with its members, its policy and a namespace of its own.

Cluster-scoped. The controller ensures the namespace named like the Organization; the
organization's Teams and Workspaces live in that namespace.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from api import formats, meta
from api.quota import QuotaUsage


class OrganizationRole(enum.StrEnum):
    """What a member may do in the organization."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class SecretKeyRef(meta.Model):
    """A key of a Secret in the organization's namespace."""

    name: formats.DNSSubdomain
    """The Secret's name."""
    key: formats.SecretKey = "token"
    """The key whose value is used."""


class OrganizationGitHub(meta.Model):
    """The GitHub organization whose members are members of this organization too."""

    org: formats.GitHubLogin
    """The GitHub organization's login, e.g. ``acme``."""
    token_secret_ref: SecretKeyRef | None = None
    """The Secret (in the organization's namespace) holding the token that reads the GitHub
    organization's and teams' members: a personal access token or a GitHub App installation
    token with ``read:org``. Unset: members are not read from GitHub."""
    api_url: formats.HTTPURL = Field(default="https://api.github.com", alias="apiURL")
    """GitHub's REST API base URL; GitHub Enterprise Server: ``https://HOST/api/v3``."""
    sync_interval: formats.Duration = "5m"
    """How often members are read again (conditional requests: an unchanged list costs
    nothing of GitHub's rate limit)."""


class OrganizationMember(meta.Model):
    """A person in the organization, by GitHub login."""

    user: formats.GitHubLogin
    """The member's GitHub login."""
    role: OrganizationRole = OrganizationRole.MEMBER
    """owner: everything, including the organization itself; admin: every team and workspace;
    member: their own workspaces and those of their teams."""


class EffectiveMember(meta.StatusModel):
    """A member of the organization as the controller resolved it."""

    user: str
    """The member's GitHub login."""
    role: OrganizationRole
    """The member's role (the highest one when several sources list the person)."""
    source: meta.MemberSource
    """Where the membership comes from: spec (``spec.members``), invitation (an accepted
    Invitation) or github (``spec.github.org``)."""
    invitation: str | None = None
    """The name of the accepted Invitation, when the source is invitation."""


class OrganizationQuota(meta.Model):
    """Upper limits on the sum of the organization's workspaces' resources."""

    cpu: formats.Quantity | None = None
    """CPU cores of all running workspaces together, e.g. "32"."""
    memory: formats.Quantity | None = None
    """Memory of all running workspaces together, e.g. 64Gi."""
    storage: formats.Quantity | None = None
    """Disk and home space of all workspaces together, running or not, e.g. 1Ti."""


class NetworkPolicy(meta.Model):
    """What the organization's workspaces may reach of each other. By default nothing: a
    workspace reaches the internet, never another workspace nor the host's services."""

    allow_within_team: bool = False
    """Workspaces of one team (``spec.team``) reach each other (every port), on a network
    of the team's; the rest stays as by default. Changing it re-creates the containers of
    the teams' running workspaces on the other network (a restart; homes are kept).
    Podman workspaces only: VMs stay isolated."""


class OrganizationPolicy(meta.Model):
    """Rules every workspace of the organization must keep."""

    providers: list[meta.Provider] = Field(
        default=[meta.Provider.PODMAN, meta.Provider.KVM], json_schema_extra=meta.LIST_SET
    )
    """The providers workspaces may use."""
    max_running_workspaces_per_user: int | None = Field(default=None, ge=0)
    """How many workspaces one person may have running at once; unset: no limit."""
    max_idle_timeout: formats.Duration | None = None
    """The longest ``idle.timeout`` a workspace may set, e.g. 8h; unset: no limit."""
    quota: OrganizationQuota | None = None
    """Limits on the resources of all workspaces together; unset: no limits."""
    network: NetworkPolicy | None = None
    """Which workspaces reach each other; unset: none (each reaches only the internet)."""


class OrganizationSpec(meta.Model):
    """The desired state of an Organization."""

    display_name: str | None = Field(default=None, max_length=256)
    """The name people read, e.g. "Acme Inc."; the object's name when unset."""
    github: OrganizationGitHub | None = None
    """The GitHub organization whose members are members too (role member); unset: only
    ``members`` and accepted Invitations."""
    members: list[OrganizationMember] = Field(
        default_factory=list, json_schema_extra=meta.list_map("user")
    )
    """People of the organization and their roles, by GitHub login."""
    policy: OrganizationPolicy = Field(
        default_factory=OrganizationPolicy, json_schema_extra=meta.DEFAULT_EMPTY_OBJECT
    )
    """Rules every workspace of the organization must keep."""

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[OrganizationMember]) -> list[OrganizationMember]:
        meta.refuse_duplicates([member.user for member in members], what="member")
        return members


class RetainedHome(meta.StatusModel):
    """The home of a deleted workspace, kept for its ``spec.home.retention``."""

    workspace: str
    """The deleted workspace's name; re-creating it (same owner) inside the window gets the
    home back."""
    owner: str
    """Its owner."""
    deleted_at: datetime | None = None
    """When the workspace was deleted."""
    expires_at: datetime | None = None
    """When the home is removed."""
    size: str | None = None
    """Bytes it takes (counted against the storage quota)."""


class OrganizationStatus(meta.StatusModel):
    """The observed state of an Organization, written by the controller."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` this status was computed from."""
    conditions: list[meta.Condition] = Field(
        default_factory=list, json_schema_extra=meta.list_map("type")
    )
    """Ready (the summary), NamespaceReady, AccessReady (the RBAC objects that enforce
    membership are in place) and GitHubSynced (with ``spec.github``)."""
    message: str | None = None
    """The message of the first failing condition, if any."""
    namespace: str | None = None
    """The namespace of the organization's Teams and Workspaces."""
    members: int | None = Field(default=None, ge=0)
    """How many effective members the organization has (every source)."""
    effective_members: list[EffectiveMember] = Field(
        default_factory=list, json_schema_extra=meta.list_map("user")
    )
    """The organization's members from every source, one entry per person."""
    github: meta.GitHubMembers | None = None
    """The members of ``spec.github.org`` as last read from GitHub, and when."""
    teams: int | None = Field(default=None, ge=0)
    """How many Teams the organization's namespace holds."""
    workspaces: int | None = Field(default=None, ge=0)
    """How many Workspaces the organization's namespace holds."""
    running_workspaces: int | None = Field(default=None, ge=0)
    """How many of them are running."""
    quota: list[QuotaUsage] = Field(
        default_factory=list, json_schema_extra=meta.list_map("resource")
    )
    """Each limit of ``spec.policy`` (quota, maxRunningWorkspacesPerUser) with its usage."""
    waiting_workspaces: int | None = Field(default=None, ge=0)
    """How many workspaces wait to start until a quota has room (stopReason Quota)."""
    retained_homes: list[RetainedHome] = Field(
        default_factory=list, json_schema_extra=meta.list_map("workspace")
    )
    """Homes of deleted workspaces kept for ``spec.home.retention``, and until when."""


class Organization(meta.Resource):
    """A company or group using WWS: its members, its policy and the namespace it owns.

    Cluster-scoped; the controller creates the namespace of the same name, in which the
    organization's Teams and Workspaces live.
    """

    RESOURCE = meta.ResourceInfo(
        kind="Organization",
        plural="organizations",
        singular="organization",
        namespaced=False,
        short_names=("org", "orgs"),
        printer_columns=(
            meta.PrinterColumn(
                name="Display Name",
                type="string",
                json_path=".spec.displayName",
                description="The name people read.",
            ),
            meta.PrinterColumn(
                name="Members",
                type="integer",
                json_path=".status.members",
                description="Number of effective members.",
            ),
            meta.PrinterColumn(
                name="Teams",
                type="integer",
                json_path=".status.teams",
                description="Number of teams.",
            ),
            meta.PrinterColumn(
                name="Workspaces",
                type="integer",
                json_path=".status.workspaces",
                description="Number of workspaces.",
            ),
            meta.READY_COLUMN,
            meta.AGE,
            meta.PrinterColumn(
                name="Namespace",
                type="string",
                json_path=".status.namespace",
                description="The namespace of the organization's teams and workspaces.",
                priority=1,
            ),
            meta.PrinterColumn(
                name="GitHub",
                type="string",
                json_path=".spec.github.org",
                description="The GitHub organization whose members may sign in.",
                priority=1,
            ),
        ),
    )

    kind: Literal["Organization"] = "Organization"
    """``Organization``."""
    spec: OrganizationSpec = Field(
        default_factory=OrganizationSpec, json_schema_extra=meta.DEFAULT_EMPTY_OBJECT
    )
    """The desired state: members and policy."""
    status: OrganizationStatus = Field(default_factory=OrganizationStatus)
    """The observed state, written by the controller."""
