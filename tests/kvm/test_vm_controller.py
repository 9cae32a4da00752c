"""A RUNNING Workspace switched podman → kvm → podman through the controller (slow: one VM
boot): the first attempt fails (the kvm homes folder refuses new files), the old home is
untouched and the conditions say why; once that is fixed the retry stops the container,
moves the home with its checks and boots the VM, HomeReady showing each step. In the VM:
SSH for the owner with zsh, the files of the container's home, the accelerator in the
status, the owner's typing reaching the controller as activity (over the VM's status
share); a SIGKILL of the controller leaves the VM and its home alone. Back to podman: the
VM, its disks and domain are gone, the container runs with the same files."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from providers import homes
from providers.libvirt import naming
from providers.podman import naming as podman_naming
from tests.controller.conftest import (  # noqa: F401 - fixtures
    Controller,
    kubectl,
    org,
    store,
)
from tests.controller.test_idle import typing_session
from tests.kvm.test_switch import patch_spec, volume_of
from tests.support.kubectl import Kubectl
from tests.support.podman import podman
from tests.support.storeproc import StoreProcess
from tests.support.waiting import eventually

pytestmark = [pytest.mark.kvm, pytest.mark.podman, pytest.mark.slow]

#: A first boot under software emulation on a busy 2-core machine (SSH host keys, user).
SSH_TIMEOUT = 420.0
#: HomeReady as a watch shows it, one line per event.
HOME_READY = (
    '{range .status.conditions[?(@.type=="HomeReady")]}{.status}|{.reason}|{.message}{"\\n"}{end}'
)


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
    (target / "homes").mkdir()
    decision = kvm_dir / "kvm" / "acceleration.json"
    if decision.exists():
        shutil.copy(decision, target / decision.name)
    running = Controller(store, folder, podman_service.socket_path)
    running.start()
    try:
        yield running
    finally:
        subprocess.run(["chattr", "-i", str(target / "homes")], check=False)
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


class HomeReadyWatch(threading.Thread):
    """Every HomeReady a watch on the workspace shows (``status|reason|message``): the
    steps of a move are seconds apart, too quick to be seen by polling. It ends with the
    store (NB: closing the response under the reading thread would block)."""

    def __init__(self, server: StoreProcess, namespace: str, name: str) -> None:
        super().__init__(daemon=True)
        path = f"/apis/wws.dev/v1alpha1/namespaces/{namespace}/workspaces"
        self.request = urllib.request.Request(
            f"{server.url}{path}?watch=true&fieldSelector=metadata.name%3D{name}",
            headers={"Authorization": f"Bearer {server.token}"},
        )
        self.context = server.ssl_context()
        self.seen: list[str] = []

    def run(self) -> None:
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(self.request, context=self.context) as response,
        ):
            for line in response:
                home = condition(json.loads(line)["object"], "HomeReady")
                self.seen.append(f"{home.get('status')}|{home.get('reason')}|{home.get('message')}")


def qemu_pid(uid: str) -> str:
    return subprocess.run(
        ["pgrep", "-f", f"guest={naming.domain_name(uid)}"], capture_output=True, text=True
    ).stdout.strip()


def domains() -> list[str]:
    return subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip


def runs_on(kc: Kubectl, namespace: str, provider: str, ready: str) -> dict[str, Any] | None:
    """The workspace once it runs on ``provider`` with condition ``ready`` True."""
    obj = kc.workspace(namespace, "vm")
    runtime = (obj.get("status") or {}).get("runtime") or {}
    if runtime.get("provider") == provider and condition(obj, ready).get("status") == "True":
        return obj
    return None


def test_a_running_workspace_switches_to_kvm_and_back(
    kubectl: Kubectl,  # noqa: F811
    org: str,  # noqa: F811
    store: StoreProcess,  # noqa: F811
    controller: Controller,
    ssh_key: Path,
    tmp_path: Path,
) -> None:
    key = ssh_key.with_suffix(".pub").read_text().strip()
    kubectl.apply(
        f"""
apiVersion: wws.dev/v1alpha1
kind: Workspace
metadata: {{name: vm, namespace: {org}}}
spec:
  owner: alice
  resources: {{cpu: '2', memory: 2Gi}}
  home: {{size: 2Gi}}
  idle: {{timeout: 30m}}
  ssh: {{authorizedKeys: ['{key}']}}
"""
    )
    obj = kubectl.wait_ready(org, "vm", timeout=120)
    uid = obj["metadata"]["uid"]
    container = podman_naming.container_name(uid)
    blob = "/home/alice/keep/blob"
    podman(
        "exec", "--user", "alice", container, "bash", "-c",
        f"mkdir -p ~/keep && head -c 300000 /dev/urandom > {blob} && ln -s blob ~/keep/link",
    )  # fmt: skip
    digest = podman("exec", container, "sha256sum", blob).stdout.split()[0]
    volume = volume_of(uid)
    assert volume is not None
    kept = homes.manifest(volume / "alice" / "keep")

    watcher = HomeReadyWatch(store, org, "vm")
    watcher.start()
    homes_dir = controller.folder / "data" / "kvm" / "homes"
    try:
        # 1. The copy into kvm fails: a clear failure, the old home untouched.
        subprocess.run(["chattr", "+i", str(homes_dir)], check=True)
        patch_spec(kubectl, org, "vm", provider="kvm")
        obj = eventually(
            lambda: (
                (o := kubectl.workspace(org, "vm"))
                and condition(o, "HomeReady").get("reason") == "HomeMoveFailed"
                and o
            ),
            "HomeMoveFailed",
            timeout=120,
        )
        home = condition(obj, "HomeReady")
        assert home["status"] == "False" and "untouched" in home["message"], home
        assert "not permitted" in home["message"], home
        assert condition(obj, "Ready")["reason"] == "HomeMoveFailed"
        assert obj["status"]["runtime"]["provider"] == "podman"
        assert volume_of(uid) == volume
        assert homes.manifest(volume / "alice" / "keep") == kept
        assert not list(homes_dir.iterdir())

        # 2. Fixed: the retry (the reconcile's backoff) moves the home and boots the VM.
        subprocess.run(["chattr", "-i", str(homes_dir)], check=True)
        obj = eventually(
            lambda: runs_on(kubectl, org, "kvm", "SSHReady"),
            "SSHReady in kvm",
            timeout=SSH_TIMEOUT,
            interval=1.0,
            detail=lambda: (
                json.dumps(kubectl.workspace(org, "vm").get("status"), indent=1)
                + "\ncontroller log:\n"
                + controller.log()[-3000:]
            ),
        )
    finally:
        subprocess.run(["chattr", "-i", str(homes_dir)], check=False)
    assert volume_of(uid) is None  # the container and its volume are gone
    assert podman("container", "exists", container, check=False).returncode != 0
    status = obj["status"]
    assert status["runtime"]["accelerator"] in ("kvm", "qemu")
    assert condition(obj, "ContainerReady")["status"] == "True"
    port = int(status["endpoints"]["sshPort"])
    out = ssh(ssh_key, port, f"echo $0; sha256sum {blob}; readlink ~/keep/link")
    assert out.returncode == 0, out
    shell, checksum, link = out.stdout.splitlines()
    assert shell.endswith("zsh") and checksum.split()[0] == digest and link == "blob"
    reasons = [e["reason"] for e in kubectl.json("-n", org, "get", "events")["items"]]
    assert {"MovingHome", "HomeMoveFailed", "HomeMoved"} <= set(reasons), reasons
    seen = "\n".join(watcher.seen)
    for step in ("stopping the podman workspace", "copying", "verifying", "removing"):
        assert f"Unknown|MovingHome|moving the home from podman to kvm: {step}" in seen, seen

    # 3. The owner types in an SSH session in the VM: the activity reaches the controller.
    session = typing_session(obj, ssh_key, tmp_path)
    try:
        assert session.stdin is not None
        for _ in range(3):
            session.stdin.write(b"true\n")
            session.stdin.flush()
            time.sleep(1)
        eventually(
            lambda: kubectl.workspace(org, "vm")["status"].get("lastActivitySource") == "ssh",
            "the VM's SSH activity in the status",
            timeout=90,
        )
    finally:
        session.kill()
        session.wait(timeout=10)

    # 4. SIGKILL of the controller: the same VM (not re-created, not restarted), same home.
    pid = qemu_pid(uid)
    assert pid
    assert ssh(ssh_key, port, "printf kept > ~/marker").returncode == 0
    controller.kill()  # no cleanup of any kind
    controller.start()
    eventually(
        lambda: condition(kubectl.workspace(org, "vm"), "SSHReady").get("status") == "True",
        "SSHReady after the controller's restart",
        timeout=120,
    )
    assert qemu_pid(uid) == pid
    assert kubectl.workspace(org, "vm")["status"]["runtime"]["id"] == status["runtime"]["id"]
    assert ssh(ssh_key, port, "cat ~/marker").stdout == "kept"

    # 5. Back to podman while the VM runs: the VM stops, the home moves, the container runs.
    patch_spec(kubectl, org, "vm", provider="podman")
    obj = kubectl.wait_ready(org, "vm", timeout=180)
    assert obj["status"]["runtime"]["provider"] == "podman"
    assert not qemu_pid(uid)
    assert naming.domain_name(uid) not in domains()
    assert not (homes_dir / f"wws-home-{uid}.img").exists()
    assert podman("exec", container, "sha256sum", blob).stdout.split()[0] == digest
    assert podman("exec", container, "cat", "/home/alice/marker").stdout == "kept"

    kubectl.run("-n", org, "delete", "workspace", "vm", "--timeout=120s")
    assert volume_of(uid) is None
