"""reconcilers.quota: who may start, who waits (oldest first), and usage — the pure part."""

from __future__ import annotations

from typing import Any

from providers import base
from reconcilers import quota


def body(uid: str, *, owner: str = "alice", cpu: str = "1", **extra: Any) -> dict[str, Any]:
    spec = {"owner": owner, "resources": {"cpu": cpu, "memory": "1Gi"}, **extra}
    return {
        "metadata": {"uid": uid, "namespace": "o", "name": uid, "creationTimestamp": uid},
        "spec": spec,
        "status": {},
    }


def index(policy: dict[str, Any]) -> quota.Index:
    found = quota.Index()
    found.set_organization("o", quota.organization_limits({"policy": policy}))
    return found


def gate(ix: quota.Index, uid: str, **kwargs: Any) -> quota.Refusal | None:
    return ix.gate(quota.member_of(body(uid, **kwargs)))


def test_per_user_limit_and_oldest_first() -> None:
    ix = index({"maxRunningWorkspacesPerUser": 1})
    assert gate(ix, "1") is None
    refused = gate(ix, "2")
    assert refused is not None and refused.stop_reason == "Quota"
    assert refused.message == "maxRunningWorkspacesPerUser: alice has 1 running, limit 1"
    assert gate(ix, "3") is not None
    assert gate(ix, "1") is None  # counted already: never refused again
    ix.put(quota.member_of(body("1", running=False)))
    assert ix.waiting("o") == ["2", "3"]
    # The younger one is judged first: the older that fits goes first.
    third = gate(ix, "3")
    assert third is not None and "waiting before this one" in third.message
    assert gate(ix, "2") is None


def test_lowered_quota_stops_nothing_and_reports_over() -> None:
    ix = index({"quota": {"cpu": "2"}})
    assert gate(ix, "1", cpu="2") is None
    ix.set_organization("o", quota.organization_limits({"policy": {"quota": {"cpu": "1"}}}))
    assert gate(ix, "1", cpu="2") is None
    refused = gate(ix, "2", cpu="500m")
    assert refused is not None
    assert refused.message == "organization o quota cpu: 2 used + 500m asked > limit 1"
    [row] = ix.organization_usage("o")
    assert (row.resource, row.used, row.limit, row.over) == ("cpu", "2", "1", True)


def test_provider_not_allowed_and_team_max_workspaces() -> None:
    ix = index({"providers": ["podman"]})
    refused = gate(ix, "1", provider="kvm")
    assert refused is not None
    assert (refused.stop_reason, refused.reason) == ("Policy", "ProviderNotAllowed")
    ix.set_team("o", "web", quota.team_limits({"quota": {"maxWorkspaces": 1}}))
    assert gate(ix, "2", team="web") is None
    full = gate(ix, "3", team="web")
    assert full is not None and "2 workspaces, limit 1" in full.message


def test_accounting_follows_events_without_recount() -> None:
    ix = index({"quota": {"cpu": "4", "storage": "100Gi"}})
    running = body("1", cpu="2")
    running["status"] = {"phase": "Running"}
    ix.put(quota.member_of(running))
    rows = {row.resource: row for row in ix.organization_usage("o")}
    assert rows["cpu"].used == "2"
    assert rows["storage"].used == "30Gi"  # disk 20Gi + home 10Gi by default
    assert ix.remove("1") == "o"
    rows = {row.resource: row for row in ix.organization_usage("o")}
    assert rows["cpu"].used == "0" and rows["storage"].used == "0"


def test_network_group_follows_the_policy_team_and_provider() -> None:
    closed = index({})
    assert closed.network_group("o", "web", "podman") == ""
    opened = index({"network": {"allowWithinTeam": True}})
    assert opened.network_group("o", "web", "podman") == "web"
    assert opened.network_group("o", None, "podman") == ""  # no team: isolated
    assert opened.network_group("o", "web", "kvm") == ""  # VMs stay isolated
    assert opened.network_group("elsewhere", "web", "podman") == ""


def test_a_network_group_changes_the_config_hash_only_when_set() -> None:
    ref = base.WorkspaceRef("o", "w", "u", "o")
    plain = base.DesiredWorkspace(ref=ref, image="i")
    assert base.DesiredWorkspace(ref=ref, image="i", network_group="").effective_config_hash() == (
        plain.effective_config_hash()
    )
    grouped = base.DesiredWorkspace(ref=ref, image="i", network_group="web")
    assert grouped.effective_config_hash() != plain.effective_config_hash()
