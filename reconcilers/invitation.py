"""The Invitation reconciler: whether an invitation is pending, accepted, expired or revoked.

The invitee accepts by writing their user name into ``status.acceptedBy`` (an admission
policy lets only the addressee do that). The controller decides what that acceptance is
worth: it records ``acceptedAt`` the first time it sees the acceptance, if the invitation
had not expired by then, and marks the invitation Expired otherwise. Only an invitation in
force (:func:`in_force`) makes anybody a member. Conditions: ``Ready`` (True once accepted
and in force), ``Valid`` (the teams it names exist).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Collection

from api import meta, units
from api.invitation import Invitation, InvitationPhase, InvitationStatus
from reconcilers import conditions

VALID = "Valid"


@dataclasses.dataclass(frozen=True)
class Decision:
    """The new status, and when to look again (at expiry) if anything can still change."""

    status: InvitationStatus
    recheck_after: float | None


def expires_at(invitation: Invitation) -> datetime.datetime:
    """Creation time + ``spec.expiresAfter`` (creation unknown: never, in practice now)."""
    created = invitation.metadata.creation_timestamp or datetime.datetime.now(datetime.UTC)
    return created + units.parse_duration(invitation.spec.expires_after)


def login_of(user_name: str | None) -> str | None:
    """The GitHub login of a person's user name ``github:<login>``; ``None`` for others."""
    if not user_name or not user_name.startswith(meta.USER_PREFIX):
        return None
    return user_name.removeprefix(meta.USER_PREFIX) or None


def in_force(invitation: Invitation) -> bool:
    """Whether the invitation makes its invitee a member: accepted in time, not revoked."""
    status = invitation.status
    return (
        not invitation.spec.revoked
        and status.phase == InvitationPhase.ACCEPTED
        and status.accepted_at is not None
        and login_of(status.accepted_by) is not None
        and invitation.metadata.deletion_timestamp is None
    )


def decide(invitation: Invitation, *, teams: Collection[str], at: datetime.datetime) -> Decision:
    """The status of ``invitation`` at ``at``, given the names of the namespace's Teams."""
    previous = invitation.status
    generation = invitation.metadata.generation
    expiry = expires_at(invitation)
    login = login_of(previous.accepted_by)
    accepted_at = previous.accepted_at
    recheck: float | None = None
    if invitation.spec.revoked:
        phase, reason, message = InvitationPhase.REVOKED, "Revoked", "the invitation was revoked"
    elif login is not None and accepted_at is None and at >= expiry:
        phase, reason = InvitationPhase.EXPIRED, "AcceptedTooLate"
        message = f"accepted by {previous.accepted_by} after it expired at {expiry.isoformat()}"
    elif login is not None:
        accepted_at = accepted_at or at
        phase, reason, message = InvitationPhase.ACCEPTED, "Accepted", ""
    elif at >= expiry:
        phase, reason = InvitationPhase.EXPIRED, "Expired"
        message = f"expired at {expiry.isoformat()} without being accepted"
    else:
        phase, reason, message = InvitationPhase.PENDING, "Pending", "waiting for the invitee"
        recheck = max((expiry - at).total_seconds(), 0.0)
    if phase != InvitationPhase.ACCEPTED:
        accepted_at = previous.accepted_at if phase == InvitationPhase.REVOKED else None
    missing = [team.name for team in invitation.spec.teams if team.name not in teams]
    valid = conditions.condition(
        previous.conditions,
        type_=VALID,
        status=meta.ConditionStatus.FALSE if missing else meta.ConditionStatus.TRUE,
        reason="TeamNotFound" if missing else "Valid",
        message=f"no such team in {invitation.metadata.namespace}: {', '.join(missing)}"
        if missing
        else "",
        generation=generation,
        at=at,
    )
    ready = conditions.condition(
        previous.conditions,
        type_=meta.READY,
        status=meta.ConditionStatus.TRUE
        if phase == InvitationPhase.ACCEPTED
        else meta.ConditionStatus.FALSE,
        reason=reason,
        message=message,
        generation=generation,
        at=at,
    )
    conds = [ready, valid]
    status = InvitationStatus(
        observed_generation=generation,
        conditions=conds,
        message=conditions.first_failing_message(conds),
        phase=phase,
        expires_at=expiry,
        accepted_by=previous.accepted_by,
        accepted_at=accepted_at,
        login=login,
    )
    return Decision(status=status, recheck_after=recheck)
