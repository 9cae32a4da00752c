"""Invitation: an offer to join an organization, accepted by the invitee as themselves.

Namespaced, in the organization's namespace. An owner (or admin) creates it for a GitHub
login or an e-mail address; the invitee accepts by writing their own user name into
``status.acceptedBy`` (the ``status`` subresource), which an admission policy allows only to
the person the invitation is addressed to: their login, or one of their verified e-mail
addresses. The controller then records when, and the invitee is a member with the
invitation's role and teams, without anybody rewriting the Organization's manifest. Deleting
the Invitation takes the access back; an expired or revoked one grants nothing.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from api import formats, meta, units
from api.organization import OrganizationRole
from api.team import TeamRole


class InvitationPhase(enum.StrEnum):
    """Where the invitation stands."""

    PENDING = "Pending"
    ACCEPTED = "Accepted"
    EXPIRED = "Expired"
    REVOKED = "Revoked"


class InvitationTeam(meta.Model):
    """A team of the organization that the invitee joins on acceptance."""

    name: formats.DNSLabel
    """The Team's name (in the organization's namespace)."""
    role: TeamRole = TeamRole.MEMBER
    """The invitee's role in the team: maintainer or member."""


class InvitationSpec(meta.Model):
    """The desired state of an Invitation."""

    invitee: formats.Invitee = Field(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "invitee is immutable"}
            ]
        }
    )
    """Who is invited: a GitHub login (``alice``) or an e-mail address that the person has
    verified on GitHub (``alice@example.com``). Cannot be changed."""
    role: OrganizationRole = OrganizationRole.MEMBER
    """The invitee's role in the organization once accepted."""
    teams: list[InvitationTeam] = Field(
        default_factory=list, json_schema_extra=meta.list_map("name")
    )
    """Teams the invitee joins once accepted; each must exist in the namespace."""
    expires_after: formats.Duration = "7d"
    """How long after its creation the invitation may be accepted, e.g. 7d, 12h."""
    revoked: bool = False
    """True withdraws the invitation: it grants nothing, even when already accepted."""
    message: str | None = Field(default=None, max_length=1024)
    """A note to the invitee, shown by the web UI."""

    @field_validator("teams")
    @classmethod
    def _unique_teams(cls, teams: list[InvitationTeam]) -> list[InvitationTeam]:
        meta.refuse_duplicates([team.name for team in teams], what="team")
        return teams

    @field_validator("expires_after")
    @classmethod
    def _not_zero(cls, value: str) -> str:
        if not units.parse_duration(value):
            raise ValueError("must be longer than 0, e.g. '7d'")
        return value

    @property
    def by_email(self) -> bool:
        """Whether the invitee is an e-mail address (else a GitHub login)."""
        return "@" in self.invitee


class InvitationStatus(meta.StatusModel):
    """The observed state of an Invitation.

    ``acceptedBy`` is written by the invitee (through the ``status`` subresource, checked by
    an admission policy); everything else by the controller.
    """

    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` this status was computed from."""
    conditions: list[meta.Condition] = Field(
        default_factory=list, json_schema_extra=meta.list_map("type")
    )
    """Ready (the summary: True once accepted and in force) and Valid (the teams exist)."""
    message: str | None = None
    """The message of the first failing condition, if any."""
    phase: InvitationPhase | None = None
    """Pending, Accepted, Expired or Revoked."""
    expires_at: datetime | None = None
    """When the invitation stops being acceptable (creation + ``spec.expiresAfter``)."""
    accepted_by: str | None = Field(default=None, max_length=64)
    """The user name of the person who accepted, ``github:<login>``: written by that person."""
    accepted_at: datetime | None = None
    """When the controller saw the acceptance (before ``expiresAt``, or it grants nothing)."""
    login: str | None = None
    """The GitHub login of the person who accepted (``acceptedBy`` without its prefix)."""


class Invitation(meta.Resource):
    """An offer to join an organization, with a role and teams, for a GitHub login or an
    e-mail address. The invitee accepts it as themselves; see ``status.acceptedBy``."""

    RESOURCE = meta.ResourceInfo(
        kind="Invitation",
        plural="invitations",
        singular="invitation",
        namespaced=True,
        short_names=("inv",),
        printer_columns=(
            meta.PrinterColumn(
                name="Invitee",
                type="string",
                json_path=".spec.invitee",
                description="The GitHub login or e-mail address invited.",
            ),
            meta.PrinterColumn(
                name="Role",
                type="string",
                json_path=".spec.role",
                description="The role in the organization once accepted.",
            ),
            meta.PrinterColumn(
                name="Phase",
                type="string",
                json_path=".status.phase",
                description="Pending, Accepted, Expired or Revoked.",
            ),
            meta.PrinterColumn(
                name="Accepted By",
                type="string",
                json_path=".status.acceptedBy",
                description="The user who accepted.",
            ),
            meta.READY_COLUMN,
            meta.AGE,
            meta.PrinterColumn(
                name="Expires",
                type="date",
                json_path=".status.expiresAt",
                description="When the invitation expires.",
                priority=1,
            ),
        ),
    )

    kind: Literal["Invitation"] = "Invitation"
    """``Invitation``."""
    spec: InvitationSpec
    """Who is invited, with which role and teams, until when."""
    status: InvitationStatus = Field(default_factory=InvitationStatus)
    """The observed state; ``acceptedBy`` is written by the invitee."""
