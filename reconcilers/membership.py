"""Who the members of an organization and of its teams are, from every source.

Sources, in the order that wins a tie: ``spec`` (the manifest), ``invitation`` (accepted
Invitations in force) and ``github`` (the members last read from the GitHub organization or
team). A person listed by several sources appears once, with the highest role any of them
gives, and the source of that role. Logins are compared case-insensitively, as GitHub does.

Team membership counts only for members of the organization: somebody listed in a Team but
not in the organization gets nothing from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from api import meta
from api.invitation import Invitation
from api.organization import EffectiveMember, Organization, OrganizationRole
from api.team import EffectiveMember as TeamMember
from api.team import Team, TeamRole
from reconcilers import invitation as invitations

_ORG_RANK = {OrganizationRole.MEMBER: 0, OrganizationRole.ADMIN: 1, OrganizationRole.OWNER: 2}
_TEAM_RANK = {TeamRole.MEMBER: 0, TeamRole.MAINTAINER: 1}


def organization_members(
    org: Organization, *, invitations_in_namespace: Iterable[Invitation], github: Sequence[str]
) -> list[EffectiveMember]:
    """The organization's effective members, sorted by login."""
    found: dict[str, EffectiveMember] = {}

    def offer(entry: EffectiveMember) -> None:
        key = entry.user.lower()
        current = found.get(key)
        if current is None or _ORG_RANK[entry.role] > _ORG_RANK[current.role]:
            found[key] = entry

    for member in org.spec.members:
        offer(EffectiveMember(user=member.user, role=member.role, source=meta.MemberSource.SPEC))
    for item in sorted(invitations_in_namespace, key=lambda i: i.metadata.name):
        login = invitations.login_of(item.status.accepted_by)
        if invitations.in_force(item) and login:
            offer(
                EffectiveMember(
                    user=login,
                    role=item.spec.role,
                    source=meta.MemberSource.INVITATION,
                    invitation=item.metadata.name,
                )
            )
    for login in github:
        offer(
            EffectiveMember(
                user=login, role=OrganizationRole.MEMBER, source=meta.MemberSource.GITHUB
            )
        )
    return [found[key] for key in sorted(found)]


def team_members(
    team: Team,
    *,
    invitations_in_namespace: Iterable[Invitation],
    github: Sequence[str],
    organization: Sequence[EffectiveMember] | None = None,
) -> list[TeamMember]:
    """The team's effective members, sorted by login; with ``organization`` given, only those
    who are members of the organization."""
    found: dict[str, TeamMember] = {}

    def offer(entry: TeamMember) -> None:
        key = entry.user.lower()
        current = found.get(key)
        if current is None or _TEAM_RANK[entry.role] > _TEAM_RANK[current.role]:
            found[key] = entry

    for member in team.spec.members:
        offer(TeamMember(user=member.user, role=member.role, source=meta.MemberSource.SPEC))
    for item in sorted(invitations_in_namespace, key=lambda i: i.metadata.name):
        login = invitations.login_of(item.status.accepted_by)
        if not (invitations.in_force(item) and login):
            continue
        for named in item.spec.teams:
            if named.name == team.metadata.name:
                offer(
                    TeamMember(
                        user=login,
                        role=named.role,
                        source=meta.MemberSource.INVITATION,
                    )
                )
    for login in github:
        offer(TeamMember(user=login, role=TeamRole.MEMBER, source=meta.MemberSource.GITHUB))
    if organization is not None:
        allowed = {member.user.lower() for member in organization}
        found = {key: entry for key, entry in found.items() if key in allowed}
    return [found[key] for key in sorted(found)]
