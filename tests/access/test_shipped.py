"""deploy/access is applied as ``wws up`` applies it, and means what docs/access.md says."""

from __future__ import annotations

from tests.support.kubectl import Kubectl
from tests.support.storeproc import StoreProcess
from wws import manifests


def test_shipped_manifests_apply_twice_and_aggregate(store: StoreProcess, kubectl: Kubectl) -> None:
    objects = manifests.documents(manifests.SHIPPED)
    kinds = {obj["kind"] for obj in objects}
    assert {"ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy"} <= kinds
    first = manifests.apply(store.kubeconfig, objects)
    second = manifests.apply(store.kubeconfig, objects)  # replaces what exists
    assert first == second
    assert not [line for line in first if "ClusterRole" in line.split(":")[0]], first
    # aggregated into kube's admin and view roles
    admin = kubectl.out("get", "clusterrole", "admin", "-o", "yaml")
    assert "workspaces/connect" in admin
    assert "workspaces" in kubectl.out("get", "clusterrole", "view", "-o", "yaml")
    # anybody signed in may try to accept an invitation (the policy decides whom it is for)
    result = kubectl.run(
        "auth",
        "can-i",
        "patch",
        "invitations",
        "--subresource=status",
        "-n",
        "anywhere",
        "--as",
        "github:nobody",
        check=False,
    )
    assert result.stdout.strip() == "yes"
    result = kubectl.run(
        "auth",
        "can-i",
        "get",
        "invitations",
        "-n",
        "anywhere",
        "--as",
        "github:nobody",
        check=False,
    )
    assert result.stdout.strip() == "no"
