"""Issue 14: ``Organization.spec.policy.network.allowWithinTeam``, end to end (kubectl →
store → controller → Podman) with real connections in both directions, before and after
the policy changes: a team's workspaces meet only while the policy allows it; a workspace
of no team never meets them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers.podman import naming
from tests.controller.test_workspaces import container_of, workspace_yaml
from tests.podman.test_isolation import connect, serve_in
from tests.support.kubectl import Kubectl
from tests.support.podman import podman
from tests.support.waiting import eventually

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def set_network_policy(kubectl: Kubectl, org: str, allow: bool) -> None:
    patch = json.dumps({"spec": {"policy": {"network": {"allowWithinTeam": allow}}}})
    kubectl.run("patch", "organization", org, "--type=merge", "-p", patch)


def attached(container: str) -> dict[str, Any]:
    """The container's networks (name → settings) once it runs; {} otherwise."""
    found = podman("inspect", container, check=False)
    if found.returncode != 0:
        return {}
    info = json.loads(found.stdout)[0]
    if not info["State"].get("Running"):
        return {}
    return dict(info["NetworkSettings"]["Networks"])


def on_network(container: str, network: str) -> str:
    """Wait until ``container`` runs on ``network``; its IP address there."""
    eventually(lambda: network in attached(container), f"{container} on {network}", timeout=90)
    serve_in(container, 8000)
    return str(attached(container)[network]["IPAddress"])


def test_allow_within_team_lets_a_teams_workspaces_meet_and_back(
    kubectl: Kubectl, org: str
) -> None:
    kubectl.apply(
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: web, namespace: {org}}}
spec:
  members: [{{user: alice}}]
"""
    )
    small = {"team": "web"}
    for name, extra in (("w1", small), ("w2", small), ("loner", {})):
        manifest = workspace_yaml(org, name, **extra).replace("cpu: '1'", "cpu: 250m")
        kubectl.apply(manifest)
    objs = {name: kubectl.wait_ready(org, name, timeout=90) for name in ("w1", "w2", "loner")}
    c1, c2, c3 = (container_of(objs[name]) for name in ("w1", "w2", "loner"))
    org_net, team_net = naming.network_name(org), naming.team_network_name(org, "web")

    # Before: nobody meets anybody.
    ip1, ip2, ip3 = (on_network(c, org_net) for c in (c1, c2, c3))
    assert connect(c1, ip2, 8000) != 0 and connect(c2, ip1, 8000) != 0
    assert connect(c3, ip1, 8000) != 0 and connect(c1, ip3, 8000) != 0

    # Allowed: the team's two meet, both ways, on the team's network; the loner stays apart.
    set_network_policy(kubectl, org, True)
    ip1, ip2 = on_network(c1, team_net), on_network(c2, team_net)
    assert org_net not in attached(c1)
    assert connect(c1, ip2, 8000) == 0 and connect(c2, ip1, 8000) == 0
    assert connect(c3, ip1, 8000) != 0 and connect(c1, ip3, 8000) != 0
    kubectl.wait_ready(org, "w1", timeout=90)

    # Withdrawn: back on the organization's network, isolated again; the team's network goes.
    set_network_policy(kubectl, org, False)
    ip1, ip2 = on_network(c1, org_net), on_network(c2, org_net)
    assert connect(c1, ip2, 8000) != 0 and connect(c2, ip1, 8000) != 0
    eventually(
        lambda: podman("network", "exists", team_net, check=False).returncode != 0,
        "the team's network is removed once unused",
    )
