"""The Team reconciler: who the team's members are, from every source.

Members come from ``spec.members`` and, when ``spec.githubTeam`` is set, from that GitHub
team. The controller lists the ``spec.members`` in ``status.effectiveMembers``; members of
the GitHub team are recognised by the web UI when they sign in (GitHub tells it which teams
a person is in), so the controller does not list them. Conditions: ``Ready`` (the summary),
``MembersResolved``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from api import meta
from api.team import EffectiveMember, MemberSource, Team, TeamRole, TeamStatus
from reconcilers import conditions

MEMBERS_RESOLVED = "MembersResolved"


def effective_members(team: Team, *, github_members: Sequence[str] = ()) -> list[EffectiveMember]:
    """One entry per person, sorted by login: ``spec.members`` with their role, then the
    GitHub team's members (role member) who are not listed in the spec."""
    members: dict[str, EffectiveMember] = {}
    for member in team.spec.members:
        members[member.user] = EffectiveMember(
            user=member.user, role=member.role, source=MemberSource.SPEC
        )
    for login in github_members:
        if login not in members:
            members[login] = EffectiveMember(
                user=login, role=TeamRole.MEMBER, source=MemberSource.GITHUB
            )
    return [members[login] for login in sorted(members, key=str.lower)]


def status_of(team: Team, *, at: datetime.datetime) -> TeamStatus:
    """The new status of ``team``."""
    previous = team.status.conditions
    generation = team.metadata.generation
    members = effective_members(team)
    if team.spec.github_team:
        reason = "SpecAndGitHubTeam"
        message = (
            f"members of the GitHub team {team.spec.github_team} are recognised when they"
            " sign in to the web UI; listed here: spec.members"
        )
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
    return TeamStatus(
        observed_generation=generation,
        conditions=conds,
        message=conditions.first_failing_message(conds),
        members=len(members),
        effective_members=members,
    )
