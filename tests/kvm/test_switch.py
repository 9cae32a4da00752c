"""Switching a Workspace's provider through the controller: podman → kvm → podman with the
home moved each way (every entry's content, owner, mode, link and times compared), HomeReady
showing the move, events saying it; on the way, the kvm home is retained when the workspace
is deleted (spec.home.retention) and restored into kvm when it is re-created. The workspace
is stopped while it switches, so no VM has to boot here (test_vm_controller.py switches a
running one)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from providers import homes
from providers.libvirt import disks, naming
from providers.podman import naming as podman_naming
from tests.controller.conftest import (  # noqa: F401 - fixtures
    Controller,
    controller,
    kubectl,
    org,
    store,
)
from tests.controller.test_workspaces import events, workspace_yaml
from tests.kvm.test_home_move import populate
from tests.support.kubectl import Kubectl
from tests.support.podman import podman
from tests.support.waiting import eventually

pytestmark = [pytest.mark.kvm, pytest.mark.podman, pytest.mark.slow]


def volume_of(uid: str) -> Path | None:
    found = podman(
        "volume", "inspect", "--format", "{{.Mountpoint}}", podman_naming.home_volume_name(uid),
        check=False,
    )  # fmt: skip
    return Path(found.stdout.strip()) if found.returncode == 0 else None


def patch_spec(kc: Kubectl, namespace: str, name: str, **spec: Any) -> None:
    patch = json.dumps({"spec": spec})
    kc.run("-n", namespace, "patch", "workspace", name, "--type=merge", "-p", patch)


def moved_to(kc: Kubectl, namespace: str, name: str, provider: str) -> dict[str, Any] | None:
    obj = kc.workspace(namespace, name)
    status = obj.get("status") or {}
    conds = status.get("conditions", [])
    home: dict[str, Any] = next((c for c in conds if c["type"] == "HomeReady"), {})
    runtime = status.get("runtime") or {}
    if runtime.get("provider") == provider and home.get("status") == "True":
        return obj
    return None


def test_switching_provider_moves_the_home_there_and_back(
    kubectl: Kubectl,  # noqa: F811
    org: str,  # noqa: F811
    controller: Controller,  # noqa: F811
) -> None:
    name = "mover"
    kubectl.apply(workspace_yaml(org, name))
    obj = kubectl.wait_ready(org, name, timeout=90)
    uid = obj["metadata"]["uid"]
    volume = volume_of(uid)
    assert volume is not None
    populate(volume / "alice" / "moved")
    patch_spec(kubectl, org, name, running=False)
    eventually(
        lambda: (kubectl.workspace(org, name).get("status") or {}).get("phase") == "Stopped",
        "stopped",
        timeout=60,
    )
    original = homes.manifest(volume)

    patch_spec(kubectl, org, name, provider="kvm")
    obj = eventually(lambda: moved_to(kubectl, org, name, "kvm"), "the home in kvm", timeout=120)
    assert volume_of(uid) is None  # the old runtime's objects are gone
    disk = controller.folder / "data" / "kvm" / "homes" / f"wws-home-{uid}.img"
    with tempfile.TemporaryDirectory() as out:
        disks.export_home(disk, Path(out))
        assert homes.differences(original, homes.manifest(Path(out))) == []
    reasons = [e["reason"] for e in kubectl.json("-n", org, "get", "events")["items"]]
    assert "MovingHome" in reasons and "HomeMoved" in reasons

    # Retention of a kvm home: deleted, kept (copied off the disk), restored into kvm.
    kept = workspace_yaml(org, name, provider="kvm", running="false", home="{retention: 1h}")
    kubectl.apply(kept)
    kubectl.run("-n", org, "delete", "workspace", name, "--timeout=120s")
    assert not disk.exists()
    kubectl.apply(kept)
    obj = eventually(lambda: moved_to(kubectl, org, name, "kvm"), "the restored home", timeout=120)
    assert obj["metadata"]["uid"] != uid
    uid = obj["metadata"]["uid"]
    assert "HomeRestored" in {e["reason"] for e in events(kubectl, org, name)}
    disk = controller.folder / "data" / "kvm" / "homes" / f"wws-home-{uid}.img"
    with tempfile.TemporaryDirectory() as out:
        disks.export_home(disk, Path(out))
        assert homes.differences(original, homes.manifest(Path(out))) == []

    patch_spec(kubectl, org, name, provider="podman")
    eventually(lambda: moved_to(kubectl, org, name, "podman"), "the home in podman", timeout=120)
    assert not disk.exists()
    volume = volume_of(uid)
    assert volume is not None
    assert homes.manifest(volume) == original

    patch_spec(kubectl, org, name, running=True)
    kubectl.wait_ready(org, name, timeout=90)
    container = podman_naming.container_name(uid)
    digest = podman("exec", container, "sha256sum", "/home/alice/moved/alice/.zshrc").stdout
    assert digest.split()[0] == original["alice/moved/alice/.zshrc"].sha256
    domains = subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert naming.domain_name(uid) not in domains
