"""Membership → effective members, invitation states and the RBAC objects that enforce them."""

from __future__ import annotations

import datetime
from typing import Any

from api import meta
from api.invitation import Invitation
from api.organization import Organization
from api.team import Team
from reconcilers import access, invitation, membership, organization

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def org(members: list[dict[str, str]]) -> Organization:
    return Organization.model_validate(
        {
            "metadata": {"name": "acme", "uid": "org-uid", "generation": 1},
            "spec": {"members": members},
        }
    )


def invite(name: str, spec: dict[str, Any], status: dict[str, Any] | None = None) -> Invitation:
    return Invitation.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": "acme",
                "generation": 1,
                "creationTimestamp": T0.isoformat(),
            },
            "spec": spec,
            "status": status or {},
        }
    )


def accepted(name: str, login: str, **spec: Any) -> Invitation:
    return invite(
        name,
        {"invitee": login, **spec},
        {"phase": "Accepted", "acceptedBy": f"github:{login}", "acceptedAt": T0.isoformat()},
    )


# -- invitations -------------------------------------------------------------------------------


def test_pending_invitation_waits_until_its_expiry() -> None:
    decision = invitation.decide(invite("i", {"invitee": "carol"}), teams=[], at=T0 + DAY)
    assert decision.status.phase == "Pending"
    assert decision.status.expires_at == T0 + 7 * DAY
    assert decision.recheck_after == (6 * DAY).total_seconds()
    ready = meta.find_condition(decision.status.conditions, "Ready")
    assert ready is not None and ready.status == "False" and ready.reason == "Pending"


def test_acceptance_is_recorded_when_seen_in_time_and_kept() -> None:
    item = invite("i", {"invitee": "carol"}, {"acceptedBy": "github:carol"})
    decision = invitation.decide(item, teams=[], at=T0 + DAY)
    assert decision.status.phase == "Accepted"
    assert decision.status.accepted_at == T0 + DAY and decision.status.login == "carol"
    assert decision.recheck_after is None
    item.status = decision.status
    assert invitation.in_force(item)
    later = invitation.decide(item, teams=[], at=T0 + 30 * DAY)
    assert later.status.phase == "Accepted" and later.status.accepted_at == T0 + DAY


def test_expired_invitations_grant_nothing_even_if_accepted_late() -> None:
    expired = invitation.decide(invite("i", {"invitee": "carol"}), teams=[], at=T0 + 8 * DAY)
    assert expired.status.phase == "Expired" and expired.recheck_after is None
    late = invite("i", {"invitee": "carol", "expiresAfter": "1h"}, {"acceptedBy": "github:carol"})
    decision = invitation.decide(late, teams=[], at=T0 + DAY)
    assert decision.status.phase == "Expired"
    assert decision.status.accepted_at is None
    ready = meta.find_condition(decision.status.conditions, "Ready")
    assert ready is not None and ready.reason == "AcceptedTooLate"
    late.status = decision.status
    assert not invitation.in_force(late)


def test_revoked_invitation_grants_nothing() -> None:
    item = accepted("i", "carol", revoked=True)
    decision = invitation.decide(item, teams=[], at=T0)
    assert decision.status.phase == "Revoked"
    item.status = decision.status
    assert not invitation.in_force(item)


def test_unknown_team_is_a_condition_not_a_grant() -> None:
    item = invite("i", {"invitee": "carol", "teams": [{"name": "platform"}, {"name": "ghost"}]})
    decision = invitation.decide(item, teams=["platform"], at=T0)
    valid = meta.find_condition(decision.status.conditions, "Valid")
    assert valid is not None and valid.status == "False" and valid.reason == "TeamNotFound"
    assert "ghost" in valid.message and "platform" not in valid.message


def test_only_people_can_accept() -> None:
    item = invite("i", {"invitee": "carol"}, {"acceptedBy": "wws:admin"})
    assert invitation.decide(item, teams=[], at=T0).status.phase == "Pending"


# -- effective members -------------------------------------------------------------------------


def test_organization_members_from_every_source_highest_role_wins() -> None:
    members = membership.organization_members(
        org([{"user": "alice", "role": "owner"}, {"user": "Bob"}]),
        invitations_in_namespace=[
            accepted("bob-admin", "bob", role="admin"),
            accepted("carol", "carol"),
            invite("dave", {"invitee": "dave"}),  # pending: nothing
        ],
        github=["alice", "erin", "CAROL"],
    )
    assert [(m.user, m.role.value, m.source.value, m.invitation) for m in members] == [
        ("alice", "owner", "spec", None),
        ("bob", "admin", "invitation", "bob-admin"),
        ("carol", "member", "invitation", "carol"),
        ("erin", "member", "github", None),
    ]


def test_team_members_only_count_for_organization_members() -> None:
    team = Team.model_validate(
        {
            "metadata": {"name": "platform", "namespace": "acme"},
            "spec": {"members": [{"user": "bob", "role": "maintainer"}, {"user": "mallory"}]},
        }
    )
    org_members = membership.organization_members(
        org([{"user": "bob"}]),
        invitations_in_namespace=[accepted("c", "carol", teams=[{"name": "platform"}])],
        github=["dave"],
    )
    members = membership.team_members(
        team,
        invitations_in_namespace=[accepted("c", "carol", teams=[{"name": "platform"}])],
        github=["dave"],
        organization=org_members,
    )
    assert [(m.user, m.role.value, m.source.value) for m in members] == [
        ("bob", "maintainer", "spec"),
        ("carol", "member", "invitation"),
        ("dave", "member", "github"),
    ]


# -- RBAC objects ------------------------------------------------------------------------------


def _objects() -> dict[tuple[str, str, str], dict[str, Any]]:
    the_org = org(
        [
            {"user": "alice", "role": "owner"},
            {"user": "olga", "role": "admin"},
            {"user": "bob"},
            {"user": "carol"},
            {"user": "dave"},
        ]
    )
    members = membership.organization_members(the_org, invitations_in_namespace=[], github=[])
    team = Team.model_validate(
        {
            "metadata": {"name": "platform", "namespace": "acme", "uid": "team-uid"},
            "spec": {
                "members": [
                    {"user": "bob", "role": "maintainer"},
                    {"user": "carol"},
                    {"user": "mallory"},
                ]
            },
        }
    )
    teams = [
        access.TeamAccess(
            name="platform",
            uid="team-uid",
            members=membership.team_members(
                team, invitations_in_namespace=[], github=[], organization=members
            ),
        ),
        access.TeamAccess(name="empty", uid="e-uid", members=[]),
    ]
    workspaces = [
        access.WorkspaceAccess(name="carol-dev", owner="carol", team="platform"),
        access.WorkspaceAccess(name="dave-dev", owner="dave", team=None),
        access.WorkspaceAccess(name="alice-dev", owner="alice", team=None),
        access.WorkspaceAccess(name="ghost-dev", owner="ghost", team=None),
    ]
    objects = access.desired(the_org, members=members, teams=teams, workspaces=workspaces)
    return {access.key(obj): obj for obj in objects}


def _users(obj: dict[str, Any]) -> list[str]:
    return [subject["name"] for subject in obj["subjects"]]


def test_owners_and_admins_get_the_admin_role_members_the_member_role() -> None:
    objects = _objects()
    admins = objects[("RoleBinding", "acme", "wws:admins")]
    assert admins["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "wws:organization:admin",
    }
    assert _users(admins) == ["github:alice", "github:olga"]
    members = objects[("RoleBinding", "acme", "wws:members")]
    assert _users(members) == ["github:bob", "github:carol", "github:dave"]
    assert members["metadata"]["labels"] == {
        "wws.dev/organization": "acme",
        "app.kubernetes.io/managed-by": "wws",
    }
    assert members["metadata"]["ownerReferences"][0]["uid"] == "org-uid"


def test_the_organization_object_is_readable_by_members_and_writable_by_owners() -> None:
    objects = _objects()
    readers = objects[("ClusterRoleBinding", "", "wws:organization:acme:member")]
    assert len(_users(readers)) == 5
    role = objects[("ClusterRole", "", "wws:organization:acme:member")]
    assert role["rules"] == [
        {
            "apiGroups": ["wws.dev"],
            "resources": ["organizations"],
            "verbs": ["get"],
            "resourceNames": ["acme"],
        }
    ]
    writers = objects[("ClusterRoleBinding", "", "wws:organization:acme:owner")]
    assert _users(writers) == ["github:alice"]


def test_team_roles_name_the_team_and_its_workspaces_only() -> None:
    objects = _objects()
    use = objects[("Role", "acme", "wws:team:platform")]
    assert use["rules"] == [
        {
            "apiGroups": ["wws.dev"],
            "resources": ["teams"],
            "verbs": ["use"],
            "resourceNames": ["platform"],
        },
        {
            "apiGroups": ["wws.dev"],
            "resources": ["workspaces/connect"],
            "verbs": ["create"],
            "resourceNames": ["carol-dev"],
        },
    ]
    assert use["metadata"]["ownerReferences"][0]["kind"] == "Team"
    assert _users(objects[("RoleBinding", "acme", "wws:team:platform")]) == [
        "github:bob",
        "github:carol",
    ]  # mallory is not in the organization
    assert _users(objects[("RoleBinding", "acme", "wws:team:platform:maintainer")]) == [
        "github:bob"
    ]
    # NB: no workspaces → no connect rule at all (a rule without names would allow every one)
    empty = objects[("Role", "acme", "wws:team:empty")]
    assert [rule["resources"] for rule in empty["rules"]] == [["teams"]]
    assert ("RoleBinding", "acme", "wws:team:empty") not in objects


def test_members_connect_to_their_own_workspaces_by_name() -> None:
    objects = _objects()
    carol = objects[("Role", "acme", "wws:user:carol")]
    assert carol["rules"][0]["resourceNames"] == ["carol-dev"]
    assert _users(objects[("RoleBinding", "acme", "wws:user:carol")]) == ["github:carol"]
    assert objects[("Role", "acme", "wws:user:dave")]["rules"][0]["resourceNames"] == ["dave-dev"]
    # owners open everything through the admin role; strangers' workspaces give nothing
    assert ("Role", "acme", "wws:user:alice") not in objects
    assert ("Role", "acme", "wws:user:ghost") not in objects


def test_removing_a_person_removes_every_binding_naming_them() -> None:
    the_org = org([{"user": "alice", "role": "owner"}])
    members = membership.organization_members(the_org, invitations_in_namespace=[], github=[])
    objects = access.desired(
        the_org,
        members=members,
        teams=[],
        workspaces=[access.WorkspaceAccess(name="bob-dev", owner="bob", team=None)],
    )
    named = [obj for obj in objects if "github:bob" in str(obj.get("subjects"))]
    assert named == []
    assert ("RoleBinding", "acme", "wws:members") not in {access.key(o) for o in objects}


def test_differs_ignores_what_the_server_adds() -> None:
    want = _objects()[("RoleBinding", "acme", "wws:admins")]
    have = {**want, "metadata": {**want["metadata"], "uid": "x", "resourceVersion": "5"}}
    assert not access.differs(want, have)
    assert access.differs(want, {**have, "subjects": []})


def test_access_patch_writes_members_and_keeps_the_namespace_condition() -> None:
    the_org = org([{"user": "alice", "role": "owner"}])
    status = organization.status_of(
        the_org, counts=organization.Counts(), namespace_error=None, at=T0
    )
    the_org.status = status
    members = membership.organization_members(
        the_org, invitations_in_namespace=[accepted("c", "carol")], github=[]
    )
    patch = organization.access_patch(
        the_org, members=members, access_error=None, github=None, github_condition=None, at=T0
    )
    assert patch["members"] == 2
    assert [m["user"] for m in patch["effectiveMembers"]] == ["alice", "carol"]
    assert [c["type"] for c in patch["conditions"]] == ["Ready", "NamespaceReady", "AccessReady"]
    failed = organization.access_patch(
        the_org, members=members, access_error="403", github=None, github_condition=None, at=T0
    )
    ready = failed["conditions"][0]
    assert ready["status"] == "False" and ready["reason"] == "ApplyFailed"


def test_an_invitee_may_read_their_invitation_only() -> None:
    the_org = org([{"user": "alice", "role": "owner"}])
    objects = access.desired(
        the_org,
        members=[],
        teams=[],
        workspaces=[],
        invitations=[access.InvitationAccess(name="carol", uid="inv-uid", login="Carol")],
    )
    by_key = {access.key(obj): obj for obj in objects}
    role = by_key[("Role", "acme", "wws:invitation:carol")]
    assert [(r["resources"], r["verbs"], r["resourceNames"]) for r in role["rules"]] == [
        (["invitations"], ["get"], ["carol"]),
        (["invitations/status"], ["get"], ["carol"]),
    ]
    assert role["metadata"]["ownerReferences"][0]["kind"] == "Invitation"
    assert _users(by_key[("RoleBinding", "acme", "wws:invitation:carol")]) == ["github:carol"]
