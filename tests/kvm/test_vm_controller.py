"""A kvm Workspace through the controller (slow: one VM boot): apply → the VM runs with
SSH for its owner, the accelerator in the status; SIGKILL of the controller leaves the VM
and its home alone; delete removes the domain and its disks."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from providers.libvirt import naming
from tests.controller.conftest import (  # noqa: F401 - fixtures
    Controller,
    kubectl,
    org,
    store,
)
from tests.support.kubectl import Kubectl
from tests.support.storeproc import StoreProcess
from tests.support.waiting import eventually

pytestmark = [pytest.mark.kvm, pytest.mark.slow]

SSH_TIMEOUT = 420.0


@pytest.fixture(scope="module")
def controller(
    store: StoreProcess,  # noqa: F811
    podman_service: Any,
    vm_disk: Path,
    kvm_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Controller]:
    """The controller with the kvm provider's caches of this test run (kernel, initramfs,
    the image's base disk, the acceleration decision), hard-linked, not built again."""
    folder = tmp_path_factory.mktemp("controller")
    target = folder / "data" / "kvm"
    target.mkdir(parents=True)
    for name in ("cache", "images"):
        subprocess.run(["cp", "-al", str(kvm_dir / "kvm" / name), str(target / name)], check=True)
    decision = kvm_dir / "kvm" / "acceleration.json"
    if decision.exists():
        shutil.copy(decision, target / decision.name)
    running = Controller(store, folder, podman_service.socket_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions", []):
        if cond["type"] == type_:
            return dict(cond)
    return {}


def ssh(key: Path, port: int, command: str) -> subprocess.CompletedProcess[str]:
    argv = [
        "ssh", "-F", "/dev/null", "-i", str(key), "-p", str(port), "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR", "alice@127.0.0.1", command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def qemu_pid(uid: str) -> str:
    return subprocess.run(
        ["pgrep", "-f", f"guest={naming.domain_name(uid)}"], capture_output=True, text=True
    ).stdout.strip()


def test_kvm_workspace_through_the_controller_survives_a_sigkill(
    kubectl: Kubectl,  # noqa: F811
    org: str,  # noqa: F811
    controller: Controller,
    ssh_key: Path,
) -> None:
    key = ssh_key.with_suffix(".pub").read_text().strip()
    kubectl.apply(
        f"""
apiVersion: wws.dev/v1alpha1
kind: Workspace
metadata: {{name: vm, namespace: {org}}}
spec:
  owner: alice
  provider: kvm
  resources: {{cpu: '2', memory: 2Gi}}
  home: {{size: 2Gi}}
  ssh: {{authorizedKeys: ['{key}']}}
"""
    )
    obj = eventually(
        lambda: (
            (o := kubectl.workspace(org, "vm"))
            and condition(o, "SSHReady").get("status") == "True"
            and o
        ),
        "SSHReady through the controller",
        timeout=SSH_TIMEOUT,
        interval=1.0,
        detail=lambda: (
            json.dumps(kubectl.workspace(org, "vm").get("status"), indent=1)
            + "\ncontroller log:\n"
            + controller.log()[-3000:]
        ),
    )
    uid = obj["metadata"]["uid"]
    status = obj["status"]
    assert status["runtime"]["provider"] == "kvm"
    assert status["runtime"]["accelerator"] in ("kvm", "qemu")
    assert condition(obj, "ContainerReady")["status"] == "True"
    port = int(status["endpoints"]["sshPort"])
    out = ssh(ssh_key, port, "echo $0; printf kept > ~/marker")
    assert out.returncode == 0 and out.stdout.strip().endswith("zsh"), out
    pid = qemu_pid(uid)
    assert pid

    controller.kill()  # SIGKILL: no cleanup of any kind
    controller.start()
    # the same VM (not re-created, not restarted), the same home
    eventually(
        lambda: condition(kubectl.workspace(org, "vm"), "SSHReady").get("status") == "True",
        "SSHReady after the controller's restart",
        timeout=120,
    )
    assert qemu_pid(uid) == pid
    assert kubectl.workspace(org, "vm")["status"]["runtime"]["id"] == status["runtime"]["id"]
    assert ssh(ssh_key, port, "cat ~/marker").stdout == "kept"

    kubectl.run("-n", org, "delete", "workspace", "vm", "--timeout=120s")
    assert not qemu_pid(uid)
    assert not (controller.folder / "data" / "kvm" / "homes" / f"wws-home-{uid}.img").exists()
