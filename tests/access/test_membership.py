"""Who the members are: the spec, accepted invitations, GitHub; invitations' lifecycle.

The real controller resolves them against the real store; everything through kubectl.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.access.conftest import apply, condition, get
from tests.support.controllerproc import ControllerProcess
from tests.support.devgithub import ALICE_TOKEN, DevGitHub
from tests.support.kubectl import Kubectl
from tests.support.waiting import eventually


def _until(kubectl: Kubectl, args: tuple[str, ...], type_: str, **want: str) -> dict[str, Any]:
    """The object once its condition ``type_`` has every field of ``want``."""

    def check() -> dict[str, Any] | None:
        found = get(kubectl, *args)
        have = condition(found, type_)
        return found if all(have.get(k) == v for k, v in want.items()) else None

    return dict(eventually(check, f"{type_} {want} of {' '.join(args)}", timeout=10))


def _members(kubectl: Kubectl, org: str) -> list[tuple[str, str, str]]:
    status = get(kubectl, "organization", org).get("status", {})
    return [(m["user"], m["role"], m["source"]) for m in status.get("effectiveMembers", [])]


def _team_members(kubectl: Kubectl, org: str, team: str) -> list[tuple[str, str, str]]:
    status = get(kubectl, "-n", org, "team", team).get("status", {})
    return [(m["user"], m["role"], m["source"]) for m in status.get("effectiveMembers", [])]


def _invite(kubectl: Kubectl, org: str, name: str, spec: str) -> None:
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Invitation
metadata: {{name: {name}, namespace: {org}}}
spec: {spec}
""",
    )


def _accept(kubectl: Kubectl, org: str, name: str, user: str) -> None:
    """Accept as the invitee ``user`` (``github:<login>``), as kubectl users do: the rule
    that lets them read the invitation follows its creation."""
    patch = json.dumps({"status": {"acceptedBy": user}})
    command = ("-n", org, "patch", "invitation", name, "--subresource=status", "--type=merge")
    eventually(
        lambda: kubectl.run(*command, "-p", patch, "--as", user, check=False).returncode == 0,
        f"{user} accepting {name}",
        timeout=10,
    )


def _phase(kubectl: Kubectl, org: str, name: str) -> str:
    return str(get(kubectl, "-n", org, "invitation", name).get("status", {}).get("phase", ""))


def test_spec_members_are_effective_members(kubectl: Kubectl, org: str) -> None:
    eventually(
        lambda: (
            _members(kubectl, org)
            == [("alice", "owner", "spec"), ("bob", "member", "spec"), ("carol", "member", "spec")]
        ),
        "the spec's members in the status",
    )
    organization = get(kubectl, "organization", org)
    assert organization["status"]["members"] == 3
    assert condition(organization, "AccessReady")["status"] in ("True", "Unknown")


def test_accepted_invitation_makes_a_member_and_deleting_it_takes_it_back(
    kubectl: Kubectl, org: str
) -> None:
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: platform, namespace: {org}}}
spec:
  members: [{{user: bob, role: maintainer}}]
""",
    )
    _invite(kubectl, org, "dave", "{invitee: dave, role: admin, teams: [{name: platform}]}")
    eventually(lambda: _phase(kubectl, org, "dave") == "Pending", "a pending invitation")
    invitation = get(kubectl, "-n", org, "invitation", "dave")
    assert invitation["status"]["expiresAt"]
    assert condition(invitation, "Valid")["status"] == "True"
    assert "dave" not in [user for user, _, _ in _members(kubectl, org)]

    _accept(kubectl, org, "dave", "github:dave")
    eventually(
        lambda: ("dave", "admin", "invitation") in _members(kubectl, org),
        "the invitee among the members",
    )
    invitation = get(kubectl, "-n", org, "invitation", "dave")
    assert invitation["status"]["phase"] == "Accepted"
    assert invitation["status"]["acceptedBy"] == "github:dave"
    assert invitation["status"]["acceptedAt"]
    assert condition(invitation, "Ready")["status"] == "True"
    eventually(
        lambda: ("dave", "member", "invitation") in _team_members(kubectl, org, "platform"),
        "the invitee in the team",
    )
    # The Organization's manifest is untouched: GitOps keeps owning it.
    spec_users = [m["user"] for m in get(kubectl, "organization", org)["spec"]["members"]]
    assert "dave" not in spec_users

    kubectl.run("-n", org, "delete", "invitation", "dave")
    eventually(
        lambda: "dave" not in [user for user, _, _ in _members(kubectl, org)],
        "the invitee gone with the invitation",
    )
    eventually(
        lambda: "dave" not in [user for user, _, _ in _team_members(kubectl, org, "platform")],
        "the invitee gone from the team",
    )


def test_invitations_expire_and_expired_acceptances_grant_nothing(
    kubectl: Kubectl, org: str
) -> None:
    _invite(kubectl, org, "erin", "{invitee: erin@example.com, expiresAfter: 2s}")
    eventually(lambda: _phase(kubectl, org, "erin") == "Expired", "the expiry", timeout=10)
    invitation = get(kubectl, "-n", org, "invitation", "erin")
    assert condition(invitation, "Ready")["reason"] == "Expired"


def test_revoked_invitation_takes_access_back(kubectl: Kubectl, org: str) -> None:
    _invite(kubectl, org, "frank", "{invitee: frank}")
    eventually(lambda: _phase(kubectl, org, "frank") == "Pending", "a pending invitation")
    _accept(kubectl, org, "frank", "github:frank")
    eventually(lambda: ("frank", "member", "invitation") in _members(kubectl, org), "frank")
    kubectl.run(
        "-n",
        org,
        "patch",
        "invitation",
        "frank",
        "--type=merge",
        "-p",
        '{"spec": {"revoked": true}}',
    )
    eventually(lambda: _phase(kubectl, org, "frank") == "Revoked", "the revocation")
    eventually(lambda: "frank" not in [u for u, _, _ in _members(kubectl, org)], "frank gone")


def test_bad_invitations_are_refused_or_explained(kubectl: Kubectl, org: str) -> None:
    for spec, field in (
        ("{invitee: 'not a login'}", "spec.invitee"),
        ("{invitee: alice, role: boss}", "spec.role"),
        ("{invitee: alice, teams: [{name: Platform}]}", "spec.teams[0].name"),
        ("{invitee: alice, expiresAfter: 1w}", "spec.expiresAfter"),
        ("{role: member}", "spec.invitee"),
    ):
        result = kubectl.run(
            "apply",
            "-f",
            "-",
            check=False,
            stdin=f"""
apiVersion: wws.dev/v1alpha1
kind: Invitation
metadata: {{name: bad, namespace: {org}}}
spec: {spec}
""",
        )
        assert result.returncode != 0, spec
        assert field in result.stderr, (spec, result.stderr)
    assert kubectl.run("-n", org, "get", "invitation", "bad", check=False).returncode != 0

    _invite(kubectl, org, "ghost-team", "{invitee: gina, teams: [{name: ghost}]}")
    invitation = _until(kubectl, ("-n", org, "invitation", "ghost-team"), "Valid", status="False")
    assert condition(invitation, "Valid")["reason"] == "TeamNotFound"
    assert "ghost" in condition(invitation, "Valid")["message"]


# --- GitHub as a source -----------------------------------------------------------------------


def _github_org(kubectl: Kubectl, org: str, github: DevGitHub, github_org: str = "acme") -> None:
    token = base64.b64encode(ALICE_TOKEN.encode()).decode()
    apply(
        kubectl,
        f"""
apiVersion: v1
kind: Secret
metadata: {{name: github-token, namespace: {org}}}
data: {{token: {token}}}
""",
    )
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Organization
metadata: {{name: {org}}}
spec:
  members: [{{user: alice, role: owner}}, {{user: bob}}, {{user: carol}}]
  github:
    org: {github_org}
    apiURL: {github.url}
    tokenSecretRef: {{name: github-token}}
    syncInterval: 2s
""",
    )


def test_github_members_and_team_members_follow_the_stand_in(
    kubectl: Kubectl, org: str, github: DevGitHub, controller: ControllerProcess
) -> None:
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: web, namespace: {org}}}
spec: {{githubTeam: acme/web}}
""",
    )
    _github_org(kubectl, org, github)
    eventually(
        lambda: ("dave", "member", "github") in _members(kubectl, org),
        "the GitHub organization's members",
    )
    organization = get(kubectl, "organization", org)
    assert condition(organization, "GitHubSynced")["status"] == "True"
    assert organization["status"]["github"]["lastSyncTime"]
    assert ("alice", "owner", "spec") in _members(kubectl, org)
    eventually(
        lambda: _team_members(kubectl, org, "web") == [("dave", "member", "github")],
        "the GitHub team's members",
    )

    github.set_team_member("acme", "web", "carol")
    eventually(
        lambda: ("carol", "member", "github") in _team_members(kubectl, org, "web"),
        "a new GitHub team member",
        timeout=10,
    )
    # the controller asks with ETags: unchanged lists come back 304, and it counts them
    assert any(r["status"] == 304 for r in github.requests())
    assert 'wws_github_requests_total{result="not_modified"}' in controller.metrics()
    assert "wws_access_writes_total" in controller.metrics()

    github.rate_limited(True)
    try:
        github.remove_team_member("acme", "web", "dave")
        organization = _until(kubectl, ("organization", org), "GitHubSynced", reason="RateLimited")
        assert "rate limit" in condition(organization, "GitHubSynced")["message"]
        # the last known members stay in force
        assert ("dave", "member", "github") in _members(kubectl, org)
        assert ("dave", "member", "github") in _team_members(kubectl, org, "web")
    finally:
        github.rate_limited(False)
        github.set_team_member("acme", "web", "dave")
    github.outage(502)
    try:
        eventually(
            lambda: (
                condition(get(kubectl, "organization", org), "GitHubSynced").get("reason")
                == "Unreachable"
            ),
            "the Unreachable condition",
            timeout=10,
        )
        assert ("dave", "member", "github") in _members(kubectl, org)
    finally:
        github.outage(None)
    eventually(
        lambda: (
            condition(get(kubectl, "organization", org), "GitHubSynced").get("status") == "True"
        ),
        "GitHub synced again",
        timeout=10,
    )


def test_missing_github_org_or_token_is_a_clear_condition(
    kubectl: Kubectl, org: str, github: DevGitHub
) -> None:
    _github_org(kubectl, org, github, github_org="nope")
    organization = _until(kubectl, ("organization", org), "GitHubSynced", status="False")
    assert condition(organization, "GitHubSynced")["reason"] == "NotFound"
    assert "/orgs/nope/members" in condition(organization, "GitHubSynced")["message"]
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: lost, namespace: {org}}}
spec: {{githubTeam: acme/nope}}
""",
    )
    kubectl.run(
        "patch", "organization", org, "--type=merge", "-p", '{"spec": {"github": {"org": "acme"}}}'
    )
    eventually(
        lambda: (
            "/orgs/acme/teams/nope/members"
            in condition(get(kubectl, "-n", org, "team", "lost"), "GitHubSynced").get("message", "")
        ),
        "the team's NotFound condition",
    )
    team = get(kubectl, "-n", org, "team", "lost")
    assert condition(team, "GitHubSynced")["reason"] == "NotFound"
    bad = base64.b64encode(b"ghp_wrong").decode()
    kubectl.run(
        "-n",
        org,
        "patch",
        "secret",
        "github-token",
        "--type=merge",
        "-p",
        json.dumps({"data": {"token": bad}}),
    )
    kubectl.run(
        "patch",
        "organization",
        org,
        "--type=merge",
        "-p",
        '{"spec": {"github": {"syncInterval": "1s"}}}',
    )
    _until(kubectl, ("organization", org), "GitHubSynced", reason="Unauthorized")
    kubectl.run("-n", org, "delete", "secret", "github-token")
    kubectl.run(
        "patch", "organization", org, "--type=merge", "-p", '{"spec": {"github": {"org": "acme"}}}'
    )
    eventually(
        lambda: (
            condition(get(kubectl, "organization", org), "GitHubSynced").get("reason")
            == "TokenMissing"
        ),
        "the TokenMissing condition",
    )


def test_an_invitation_cannot_be_created_accepted(kubectl: Kubectl, org: str) -> None:
    """The status subresource: a status sent with the object is dropped at create, so an
    owner cannot create an invitation that someone has already "accepted"."""
    kubectl.run(
        "create",
        "-f",
        "-",
        stdin=f"""
apiVersion: wws.dev/v1alpha1
kind: Invitation
metadata: {{name: forged, namespace: {org}}}
spec: {{invitee: mallory}}
status: {{acceptedBy: "github:mallory", phase: Accepted, acceptedAt: "2026-01-01T00:00:00Z"}}
""",
    )
    eventually(lambda: _phase(kubectl, org, "forged") == "Pending", "a pending invitation")
    assert "acceptedBy" not in get(kubectl, "-n", org, "invitation", "forged")["status"]
    assert "mallory" not in [user for user, _, _ in _members(kubectl, org)]


def test_a_github_team_needs_the_organizations_github_settings(kubectl: Kubectl, org: str) -> None:
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: orphaned, namespace: {org}}}
spec: {{githubTeam: acme/web, members: [{{user: bob}}]}}
""",
    )
    team = _until(kubectl, ("-n", org, "team", "orphaned"), "GitHubSynced", status="False")
    assert condition(team, "GitHubSynced")["reason"] == "NoGitHubSource"
    assert _team_members(kubectl, org, "orphaned") == [("bob", "member", "spec")]
