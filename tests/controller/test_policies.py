"""Issue 14: the organization's policy and the quotas, end to end (kubectl → store → kopf →
Podman, all real): a provider not allowed, maxRunningWorkspacesPerUser, an organization CPU
quota with waiting and the automatic start (oldest first, across a controller restart), a
lowered quota that stops nothing, and a team's maxWorkspaces."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.controller.conftest import Controller
from tests.controller.test_workspaces import condition, workspace_yaml
from tests.support.kubectl import Kubectl
from tests.support.waiting import eventually

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def set_policy(kubectl: Kubectl, org: str, policy: dict[str, Any]) -> None:
    patch = json.dumps({"spec": {"policy": policy}})
    kubectl.run("patch", "organization", org, "--type=merge", "-p", patch)


def status_of(kubectl: Kubectl, org: str, name: str) -> dict[str, Any]:
    return dict(kubectl.workspace(org, name).get("status") or {})


def waits(kubectl: Kubectl, org: str, name: str, reason: str) -> dict[str, Any]:
    """The workspace held from starting with Ready's ``reason``."""

    def held() -> dict[str, Any] | None:
        obj = kubectl.workspace(org, name)
        status = obj.get("status") or {}
        ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
        if ready and ready[0]["reason"] == reason and status.get("phase") == "Stopped":
            return obj
        return None

    found: dict[str, Any] = eventually(held, f"{name} held ({reason})", timeout=60)
    return found


def org_quota(kubectl: Kubectl, org: str) -> dict[str, dict[str, Any]]:
    status = kubectl.json("get", "organization", org).get("status") or {}
    return {row["resource"]: row for row in status.get("quota", [])}


def test_provider_not_allowed(kubectl: Kubectl, org: str) -> None:
    set_policy(kubectl, org, {"providers": ["podman"]})
    kubectl.apply(workspace_yaml(org, "vm", provider="kvm"))
    obj = waits(kubectl, org, "vm", "ProviderNotAllowed")
    status = obj["status"]
    assert status["stopReason"] == "Policy"
    assert "provider kvm is not allowed" in condition(obj, "Ready")["message"]
    assert "podman" in status["message"]


def test_per_user_limit_waits_then_starts_by_itself_across_a_restart(
    kubectl: Kubectl, org: str, controller: Controller
) -> None:
    set_policy(kubectl, org, {"maxRunningWorkspacesPerUser": 1})
    kubectl.apply(workspace_yaml(org, "first"))
    kubectl.wait_ready(org, "first")
    kubectl.apply(workspace_yaml(org, "second"))
    kubectl.apply(workspace_yaml(org, "third"))
    for name in ("second", "third"):
        obj = waits(kubectl, org, name, "QuotaExceeded")
        assert obj["status"]["stopReason"] == "Quota"
        quota = condition(obj, "QuotaExceeded")
        assert quota["status"] == "True"
        assert (
            quota["message"] == ("maxRunningWorkspacesPerUser: alice has 1 running, limit 1")
            or "waiting before this one" in quota["message"]
        )
    eventually(
        lambda: org_quota(kubectl, org).get("runningWorkspacesPerUser", {}).get("used") == "1",
        "the organization's status shows the usage",
    )
    # The controller restarts in the middle: nothing starts over the limit.
    controller.kill()
    controller.start()
    waits(kubectl, org, "second", "QuotaExceeded")
    assert status_of(kubectl, org, "third")["stopReason"] == "Quota"

    # Room frees up: the oldest waiting one starts by itself, the younger keeps waiting.
    kubectl.apply(workspace_yaml(org, "first", running="false"))
    obj = kubectl.wait_ready(org, "second", timeout=90)
    assert obj["status"]["phase"] == "Running"
    assert "stopReason" not in obj["status"]
    assert condition(obj, "QuotaExceeded")["status"] == "False"
    third = waits(kubectl, org, "third", "QuotaExceeded")
    assert third["status"]["stopReason"] == "Quota"
    # Re-applying the unchanged manifest changes nothing of a waiting one.
    version = third["metadata"]["resourceVersion"]
    kubectl.apply(workspace_yaml(org, "third"))
    assert kubectl.workspace(org, "third")["metadata"]["resourceVersion"] == version


def test_cpu_quota_lowered_stops_nothing_and_team_max_workspaces(
    kubectl: Kubectl, org: str
) -> None:
    kubectl.apply(workspace_yaml(org, "big"))
    kubectl.wait_ready(org, "big")
    # Lowered below what runs: the running workspace keeps running, the status says so.
    set_policy(kubectl, org, {"quota": {"cpu": "500m"}})
    eventually(
        lambda: org_quota(kubectl, org).get("cpu", {}).get("over") is True,
        "the organization's status shows cpu over the lowered quota",
    )
    assert org_quota(kubectl, org)["cpu"]["used"] == "1"
    assert status_of(kubectl, org, "big")["phase"] == "Running"
    kubectl.apply(workspace_yaml(org, "small").replace("cpu: '1'", "cpu: 250m"))
    obj = waits(kubectl, org, "small", "QuotaExceeded")
    assert condition(obj, "QuotaExceeded")["message"] == (
        f"organization {org} quota cpu: 1 used + 250m asked > limit 500m"
    )
    assert status_of(kubectl, org, "big")["phase"] == "Running"
    # Raised: the waiting one starts by itself.
    set_policy(kubectl, org, {"quota": {"cpu": "2"}})
    kubectl.wait_ready(org, "small", timeout=90)

    # The team's limit: admission refuses a third workspace (tests/access/test_team_quota.py);
    # one lowered under what the team has keeps the youngest from starting.
    kubectl.apply(
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: web, namespace: {org}}}
spec:
  members: [{{user: alice}}]
  quota: {{maxWorkspaces: 2}}
"""
    )
    kubectl.apply(workspace_yaml(org, "t1", team="web", running="false"))
    kubectl.wait_ready(org, "t1")
    kubectl.apply(workspace_yaml(org, "t2", team="web", running="false"))

    def team_rows() -> dict[str, Any]:
        status = kubectl.json("-n", org, "get", "team", "web").get("status") or {}
        return {row["resource"]: row for row in status.get("quota", [])}

    eventually(
        lambda: team_rows().get("workspaces", {}).get("used") == "2",
        "the team's status shows its workspaces against maxWorkspaces",
    )
    kubectl.run(
        "-n", org, "patch", "team", "web", "--type=merge",
        "-p", json.dumps({"spec": {"quota": {"maxWorkspaces": 1}}}),
    )  # fmt: skip
    eventually(
        lambda: team_rows().get("workspaces", {}).get("over") is True,
        "the team's status shows it over the lowered maxWorkspaces",
    )
    kubectl.run(
        "-n", org, "patch", "workspace", "t2", "--type=merge", "-p", '{"spec":{"running":true}}'
    )
    obj = waits(kubectl, org, "t2", "QuotaExceeded")
    assert condition(obj, "QuotaExceeded")["message"] == (
        "team web quota maxWorkspaces: 2 workspaces, limit 1 (this one is number 2)"
    )
