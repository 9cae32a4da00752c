"""The Team reconciler: who the team's members are, from every source.

Members come from ``spec.members``, from accepted Invitations that name the team and, when
``spec.githubTeam`` is set, from that GitHub team (as last read by the controller, with the
organization's token). :func:`reconcilers.membership.team_members` merges them;
``status.effectiveMembers`` lists them all. Conditions: ``Ready`` (the summary),
``MembersResolved``, and ``GitHubSynced`` with ``githubTeam``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from api import meta
from api.team import EffectiveMember, Team, TeamRole, TeamStatus
from reconcilers import conditions

MEMBERS_RESOLVED = "MembersResolved"
GITHUB_SYNCED = "GitHubSynced"


def effective_members(team: Team, *, github_members: Sequence[str] = ()) -> list[EffectiveMember]:
    """One entry per person, sorted by login: ``spec.members`` with their role, then the
    GitHub team's members (role member) who are not listed in the spec."""
    members: dict[str, EffectiveMember] = {}
    for member in team.spec.members:
        members[member.user] = EffectiveMember(
            user=member.user, role=member.role, source=meta.MemberSource.SPEC
        )
    for login in github_members:
        if login not in members:
            members[login] = EffectiveMember(
                user=login, role=TeamRole.MEMBER, source=meta.MemberSource.GITHUB
            )
    return [members[login] for login in sorted(members, key=str.lower)]


def status_of(
    team: Team,
    *,
    at: datetime.datetime,
    members: Sequence[EffectiveMember] | None = None,
    github: meta.GitHubMembers | None = None,
    github_condition: tuple[meta.ConditionStatus, str, str] | None = None,
) -> TeamStatus:
    """The new status of ``team``; ``members`` as resolved from every source (default: the
    spec's), ``github`` and ``github_condition`` (status, reason, message) from the last
    read of ``githubTeam``."""
    previous = team.status.conditions
    generation = team.metadata.generation
    resolved_members = list(members) if members is not None else effective_members(team)
    if team.spec.github_team:
        reason = "SpecAndGitHubTeam"
        message = f"members of spec.members, accepted invitations and {team.spec.github_team}"
    else:
        reason, message = "Spec", ""
    resolved = conditions.condition(
        previous,
        type_=MEMBERS_RESOLVED,
        status=meta.ConditionStatus.TRUE,
        reason=reason,
        message=message,
        generation=generation,
        at=at,
    )
    ready = conditions.condition(
        previous,
        type_=meta.READY,
        status=meta.ConditionStatus.TRUE,
        reason="Ready",
        generation=generation,
        at=at,
    )
    conds = [ready, resolved]
    if team.spec.github_team and github_condition is not None:
        status, sync_reason, sync_message = github_condition
        conds.append(
            conditions.condition(
                previous,
                type_=GITHUB_SYNCED,
                status=status,
                reason=sync_reason,
                message=sync_message,
                generation=generation,
                at=at,
            )
        )
    return TeamStatus(
        observed_generation=generation,
        conditions=conds,
        message=conditions.first_failing_message(conds),
        members=len(resolved_members),
        effective_members=resolved_members,
        github=github if team.spec.github_team else None,
        # NB: status.quota is the quota accounting's to write (controller.quotas); carried
        # over so that this status, merged against the old one, never clears it.
        quota=list(team.status.quota),
    )
