"""Membership → the Kubernetes RBAC objects that enforce it (see ``docs/access.md``).

:func:`desired` is the whole decision: given an organization's effective members, its teams'
effective members and its workspaces' owners and teams, the Roles, RoleBindings,
ClusterRoles and ClusterRoleBindings that must exist, and nothing else. The controller
creates what is missing, updates what differs and deletes every object with the
organization's label that is not in the list, so removing a person removes every binding
that named them, and an empty list (the Organization is gone) leaves nothing behind.

The rights themselves live in ClusterRoles shipped in ``deploy/access/`` (bound here by name)
and in the ValidatingAdmissionPolicies there ("only your own workspace", "only your team's",
"only the invitee accepts").
What only membership can say is generated here: who is bound to which shipped role, the
Organization object (cluster-scoped, so named in a per-organization ClusterRole), an
Invitation for its invitee to read, the
``use``/``maintain`` verbs on each Team that the policies ask the authorizer about, and
``workspaces/connect`` for the exact workspaces a person may open.

NB: an RBAC rule without ``resourceNames`` applies to every name, so a rule naming the
workspaces of a team or a person is generated only when there is at least one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from api import meta
from api.organization import EffectiveMember, Organization, OrganizationRole
from api.team import EffectiveMember as TeamMember
from api.team import TeamRole

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_VERSION = f"{RBAC_GROUP}/v1"
LABEL_ORGANIZATION = f"{meta.GROUP}/organization"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TEAM = f"{meta.GROUP}/team"

ADMIN_ROLE = "wws:organization:admin"
"""Shipped ClusterRole: everything in the organization's namespace (owners and admins)."""
MEMBER_ROLE = "wws:organization:member"
"""Shipped ClusterRole: see everything, write workspaces (the policies narrow it to one's own)."""

TEAM_USE = "use"
"""Custom verb on a Team: its members may start, stop and open its workspaces."""
TEAM_MAINTAIN = "maintain"
"""Custom verb on a Team: its maintainers may change and delete its workspaces."""


@dataclasses.dataclass(frozen=True)
class TeamAccess:
    """A Team as access needs it."""

    name: str
    uid: str
    members: Sequence[TeamMember]


@dataclasses.dataclass(frozen=True)
class InvitationAccess:
    """An Invitation addressed to a GitHub login, still open or accepted."""

    name: str
    uid: str
    login: str


@dataclasses.dataclass(frozen=True)
class WorkspaceAccess:
    """A Workspace as access needs it."""

    name: str
    owner: str
    team: str | None


def labels(org: str, *, team: str | None = None) -> dict[str, str]:
    """The labels of every object made for ``org`` (how the controller finds them again)."""
    found = {LABEL_ORGANIZATION: org, LABEL_MANAGED_BY: "wws"}
    if team is not None:
        found[LABEL_TEAM] = team
    return found


def _owner_ref(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": meta.API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "blockOwnerDeletion": False,
    }


def _user(login: str) -> dict[str, str]:
    return {"apiGroup": RBAC_GROUP, "kind": "User", "name": meta.user_name(login)}


def _subjects(logins: Iterable[str]) -> list[dict[str, str]]:
    return [_user(login) for login in sorted({login.lower() for login in logins})]


def _object(
    kind: str,
    name: str,
    *,
    namespace: str | None,
    org: str,
    owner: dict[str, Any],
    team: str | None = None,
    body: dict[str, Any],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "labels": labels(org, team=team),
        "ownerReferences": [owner],
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": RBAC_VERSION, "kind": kind, "metadata": metadata, **body}


def _rule(resource: str, verbs: Sequence[str], names: Sequence[str] = ()) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "apiGroups": [meta.GROUP],
        "resources": [resource],
        "verbs": list(verbs),
    }
    if names:
        rule["resourceNames"] = sorted(set(names))
    return rule


def _role_ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": RBAC_GROUP, "kind": kind, "name": name}


def desired(
    org: Organization,
    *,
    members: Sequence[EffectiveMember],
    teams: Sequence[TeamAccess],
    workspaces: Sequence[WorkspaceAccess],
    invitations: Sequence[InvitationAccess] = (),
) -> list[dict[str, Any]]:
    """Every RBAC object that enforces ``org``'s membership, in a stable order."""
    name = org.metadata.name
    namespace = name
    org_owner = _owner_ref("Organization", name, org.metadata.uid or "")
    admins = [m.user for m in members if m.role in (OrganizationRole.OWNER, OrganizationRole.ADMIN)]
    owners = [m.user for m in members if m.role == OrganizationRole.OWNER]
    plain = [m.user for m in members if m.role == OrganizationRole.MEMBER]
    everyone = [m.user for m in members]
    is_member = {login.lower() for login in everyone}
    is_admin = {login.lower() for login in admins}

    def binding(
        kind: str, object_name: str, role: dict[str, str], subjects: list[dict[str, str]], **kw: Any
    ) -> dict[str, Any]:
        return _object(
            kind, object_name, org=name, body={"roleRef": role, "subjects": subjects}, **kw
        )

    objects: list[dict[str, Any]] = []

    def add(*found: dict[str, Any]) -> None:
        # NB: a binding without subjects names nobody; leaving it out leaves nothing behind.
        objects.extend(obj for obj in found if obj.get("subjects", True))

    # The Organization object itself: cluster-scoped, so a ClusterRole naming it.
    for suffix, verbs, who in (
        ("member", ["get"], everyone),
        ("owner", ["update", "patch", "delete"], owners),
    ):
        role_name = f"wws:organization:{name}:{suffix}"
        rules = [_rule("organizations", verbs, [name])]
        if suffix == "owner":
            rules.append(_rule("organizations/status", ["get"], [name]))
        add(
            _object(
                "ClusterRole",
                role_name,
                namespace=None,
                org=name,
                owner=org_owner,
                body={"rules": rules},
            )
        )
        add(
            binding(
                "ClusterRoleBinding",
                role_name,
                _role_ref("ClusterRole", role_name),
                _subjects(who),
                namespace=None,
                owner=org_owner,
            )
        )
    # The namespace: the shipped roles, bound to owners and admins, and to members.
    add(
        binding(
            "RoleBinding",
            "wws:admins",
            _role_ref("ClusterRole", ADMIN_ROLE),
            _subjects(admins),
            namespace=namespace,
            owner=org_owner,
        )
    )
    add(
        binding(
            "RoleBinding",
            "wws:members",
            _role_ref("ClusterRole", MEMBER_ROLE),
            _subjects(plain),
            namespace=namespace,
            owner=org_owner,
        )
    )
    # Each team: `use` (members and maintainers) and `maintain` (maintainers) on the Team,
    # and connect to the team's workspaces.
    for team in sorted(teams, key=lambda t: t.name):
        team_owner = _owner_ref("Team", team.name, team.uid)
        in_org = [m for m in team.members if m.user.lower() in is_member]
        shared = [w.name for w in workspaces if w.team == team.name]
        use_rules = [_rule("teams", [TEAM_USE], [team.name])]
        if shared:
            use_rules.append(_rule("workspaces/connect", ["create"], shared))
        for suffix, rules, who in (
            ("", use_rules, [m.user for m in in_org]),
            (
                ":maintainer",
                [_rule("teams", [TEAM_MAINTAIN, "update", "patch"], [team.name])],
                [m.user for m in in_org if m.role == TeamRole.MAINTAINER],
            ),
        ):
            role_name = f"wws:team:{team.name}{suffix}"
            add(
                _object(
                    "Role",
                    role_name,
                    namespace=namespace,
                    org=name,
                    owner=team_owner,
                    team=team.name,
                    body={"rules": rules},
                )
            )
            add(
                binding(
                    "RoleBinding",
                    role_name,
                    _role_ref("Role", role_name),
                    _subjects(who),
                    namespace=namespace,
                    owner=team_owner,
                    team=team.name,
                )
            )
    # Each member: connect to their own workspaces (owners and admins may open them all).
    own: dict[str, list[str]] = {}
    for workspace in workspaces:
        owner = workspace.owner.lower()
        if owner in is_member and owner not in is_admin:
            own.setdefault(owner, []).append(workspace.name)
    for login in sorted(own):
        role_name = f"wws:user:{login}"
        add(
            _object(
                "Role",
                role_name,
                namespace=namespace,
                org=name,
                owner=org_owner,
                body={"rules": [_rule("workspaces/connect", ["create"], own[login])]},
            )
        )
        add(
            binding(
                "RoleBinding",
                role_name,
                _role_ref("Role", role_name),
                [_user(login)],
                namespace=namespace,
                owner=org_owner,
            )
        )
    # Each invitation addressed to a login: its invitee may read it (kubectl reads before it
    # patches). Invitations by e-mail are read for the invitee by the web UI.
    for item in sorted(invitations, key=lambda i: i.name):
        role_name = f"wws:invitation:{item.name}"
        invitation_owner = _owner_ref("Invitation", item.name, item.uid)
        rules = [_rule(r, ["get"], [item.name]) for r in ("invitations", "invitations/status")]
        add(
            _object(
                "Role",
                role_name,
                namespace=namespace,
                org=name,
                owner=invitation_owner,
                body={"rules": rules},
            ),
            binding(
                "RoleBinding",
                role_name,
                _role_ref("Role", role_name),
                [_user(item.login)],
                namespace=namespace,
                owner=invitation_owner,
            ),
        )
    return objects


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    """What identifies an object: kind, namespace ("" for cluster-scoped), name."""
    metadata = obj["metadata"]
    return obj["kind"], metadata.get("namespace", ""), metadata["name"]


def differs(want: dict[str, Any], have: dict[str, Any]) -> bool:
    """Whether ``have`` (from the API server) must be updated to ``want``."""
    fields = ("rules", "roleRef", "subjects")
    if any(want.get(f) != have.get(f) for f in fields):
        return True
    have_meta = have.get("metadata", {})
    return bool(
        want["metadata"]["labels"] != have_meta.get("labels")
        or want["metadata"]["ownerReferences"] != have_meta.get("ownerReferences")
    )
