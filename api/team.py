"""Team: people of an organization who share workspaces, with a quota of their own.

Namespaced, in the organization's namespace. A Workspace that names a team in ``spec.team``
is shared with the team's members according to their role.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import Field, field_validator

from api import formats, meta
from api.quota import QuotaUsage


class TeamRole(enum.StrEnum):
    """What a member may do with the team's workspaces."""

    MAINTAINER = "maintainer"
    MEMBER = "member"


MemberSource = meta.MemberSource


class TeamMember(meta.Model):
    """A person in the team, by GitHub login."""

    user: formats.GitHubLogin
    """The member's GitHub login."""
    role: TeamRole = TeamRole.MEMBER
    """maintainer: may change, start, stop and delete the team's workspaces and the team;
    member: may open, start and stop the team's workspaces."""


class TeamQuota(meta.Model):
    """Upper limits on the team's workspaces together."""

    max_workspaces: int | None = Field(default=None, ge=0)
    """How many workspaces the team may have (spec.team): one more is refused at create;
    unset: no limit."""
    cpu: formats.Quantity | None = None
    """CPU cores of the team's running workspaces together, e.g. "16"."""
    memory: formats.Quantity | None = None
    """Memory of the team's running workspaces together, e.g. 32Gi."""
    storage: formats.Quantity | None = None
    """Disk and home space of the team's workspaces together, e.g. 500Gi."""


class TeamSpec(meta.Model):
    """The desired state of a Team."""

    display_name: str | None = Field(default=None, max_length=256)
    """The name people read; the object's name when unset."""
    members: list[TeamMember] = Field(default_factory=list, json_schema_extra=meta.list_map("user"))
    """People of the team and their roles, by GitHub login."""
    github_team: formats.GitHubTeam | None = None
    """A GitHub team (ORG/TEAM-SLUG) whose members are members of this team too."""
    quota: TeamQuota | None = None
    """Limits on the team's workspaces together; unset: only the organization's policy."""

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[TeamMember]) -> list[TeamMember]:
        meta.refuse_duplicates([member.user for member in members], what="member")
        return members


class EffectiveMember(meta.StatusModel):
    """A member of the team as the controller resolved it."""

    user: str
    """The member's GitHub login."""
    role: TeamRole
    """The member's role in the team (the higher one when listed by several sources)."""
    source: meta.MemberSource
    """Where the membership comes from: spec (``spec.members``), invitation (an accepted
    Invitation that names the team) or github (``githubTeam``)."""


class TeamStatus(meta.StatusModel):
    """The observed state of a Team, written by the controller."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` this status was computed from."""
    conditions: list[meta.Condition] = Field(
        default_factory=list, json_schema_extra=meta.list_map("type")
    )
    """Ready (the summary), MembersResolved and GitHubSynced (with ``githubTeam``)."""
    message: str | None = None
    """The message of the first failing condition, if any."""
    members: int | None = Field(default=None, ge=0)
    """How many effective members the team has."""
    effective_members: list[EffectiveMember] = Field(
        default_factory=list, json_schema_extra=meta.list_map("user")
    )
    """The team's members from all sources, one entry per person."""
    github: meta.GitHubMembers | None = None
    """The members of ``githubTeam`` as last read from GitHub, and when."""
    quota: list[QuotaUsage] = Field(
        default_factory=list, json_schema_extra=meta.list_map("resource")
    )
    """Each limit of ``spec.quota`` with its usage."""


class Team(meta.Resource):
    """People of an organization who share workspaces, with a quota of their own.

    Lives in the organization's namespace. Members come from ``spec.members`` and, when set,
    from the GitHub team ``spec.githubTeam``; ``status.effectiveMembers`` lists them all.
    """

    RESOURCE = meta.ResourceInfo(
        kind="Team",
        plural="teams",
        singular="team",
        namespaced=True,
        short_names=("team",),
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
            meta.READY_COLUMN,
            meta.AGE,
            meta.PrinterColumn(
                name="GitHub Team",
                type="string",
                json_path=".spec.githubTeam",
                description="The GitHub team whose members are members too.",
                priority=1,
            ),
        ),
    )

    kind: Literal["Team"] = "Team"
    """``Team``."""
    spec: TeamSpec = Field(default_factory=TeamSpec, json_schema_extra=meta.DEFAULT_EMPTY_OBJECT)
    """The desired state: members and quota."""
    status: TeamStatus = Field(default_factory=TeamStatus)
    """The observed state, written by the controller."""
