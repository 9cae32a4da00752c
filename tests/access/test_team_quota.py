"""A team's ``maxWorkspaces`` at admission (issue 14, policy ``wws-team-max-workspaces`` of
deploy/access): real kubectl, the real store enforcing the shipped policy with the Teams as
params, the real controller counting the team's workspaces into the Team's status."""

from __future__ import annotations

import json

from tests.access.conftest import apply, get
from tests.support.kubectl import Kubectl
from tests.support.waiting import eventually


def workspace(org: str, name: str, team: str = "") -> str:
    team_line = f"\n  team: {team}" if team else ""
    return f"""
apiVersion: wws.dev/v1alpha1
kind: Workspace
metadata: {{name: {name}, namespace: {org}}}
spec:
  owner: alice{team_line}
  running: false
"""


def counted(kubectl: Kubectl, org: str, used: int) -> None:
    def rows() -> dict[str, str]:
        status = get(kubectl, "-n", org, "team", "web").get("status") or {}
        return {row["resource"]: row["used"] for row in status.get("quota", [])}

    eventually(lambda: rows().get("workspaces") == str(used), f"team web counts {used}")


def test_a_workspace_over_max_workspaces_is_refused_at_create(kubectl: Kubectl, org: str) -> None:
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: web, namespace: {org}}}
spec:
  members: [{{user: alice}}]
  quota: {{maxWorkspaces: 2}}
""",
    )
    # Another team with room, and a workspace of no team: neither is limited by web's quota.
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: api, namespace: {org}}}
spec: {{quota: {{maxWorkspaces: 5}}}}
""",
    )
    for number in (1, 2):
        apply(kubectl, workspace(org, f"w{number}", team="web"))
        counted(kubectl, org, number)

    refused = kubectl.run("apply", "-f", "-", stdin=workspace(org, "w3", team="web"), check=False)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr, refused.stderr
    assert "team web quota maxWorkspaces: 2 workspaces, limit 2" in refused.stderr
    missing = kubectl.run("-n", org, "get", "workspace", "w3", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr, "nothing stored"

    # Other teams and no team are not held by web's limit.
    apply(kubectl, workspace(org, "a1", team="api"))
    apply(kubectl, workspace(org, "loose"))
    # Moving a workspace into the full team is refused too, and changes nothing.
    moved = kubectl.run(
        "-n", org, "patch", "workspace", "loose", "--type=merge",
        "-p", json.dumps({"spec": {"team": "web"}}), check=False,
    )  # fmt: skip
    assert moved.returncode != 0 and "limit 2" in moved.stderr, moved.stderr
    assert "team" not in get(kubectl, "-n", org, "workspace", "loose")["spec"]
    # Updates of a workspace already in the team are not counted again.
    kubectl.run("-n", org, "annotate", "workspace", "w1", "note=kept")

    # A raised limit lets the next one in.
    kubectl.run(
        "-n", org, "patch", "team", "web", "--type=merge",
        "-p", json.dumps({"spec": {"quota": {"maxWorkspaces": 3}}}),
    )  # fmt: skip
    apply(kubectl, workspace(org, "w3", team="web"))
    counted(kubectl, org, 3)
