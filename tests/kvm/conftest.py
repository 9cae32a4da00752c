"""Fixtures for the kvm provider: real libvirtd, real QEMU, the real workspace image.

The VM files live under ``$WWS_TEST_DATA_DIR/kvm`` (default ``<repo>/.data/test/kvm``) and
outlive the run: the kernel, the initramfs and the base disk of the image are made once
(session fixture :func:`vm_disk`) and reused by every test and the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from providers import agent, base
from providers.libvirt import LibvirtProvider, bootfiles, daemon, disks, naming

T = TypeVar("T")
#: A first boot under software emulation on a busy 2-core machine: SSH host keys, user.
BOOT_TIMEOUT = 300.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def libvirt_ready() -> None:
    """Skip only when this machine truly cannot run VMs."""
    for program in ("qemu-system-x86_64", "libvirtd", "virtlogd", "qemu-img", "mkfs.ext4"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (bash deploy/host-setup.sh installs it)")
    daemon.ensure_daemon(daemon.DEFAULT_URI)


@pytest.fixture(scope="session")
def kvm_dir(data_dir: Path) -> Path:
    return data_dir


@pytest.fixture(scope="session")
def vm_disk(libvirt_ready: None, workspace_image: str, kvm_dir: Path) -> Path:
    """The kernel, initramfs and the image's base disk: built once, shared by all tests."""
    layout = naming.Layout(kvm_dir / "kvm")
    bootfiles.ensure_boot_files(layout.cache)
    path, _ = disks.ensure_base_disk(layout, workspace_image)
    return path


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ssh")
    key = folder / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wws-test", "-f", str(key)],
        check=True,
    )
    return key


@dataclasses.dataclass
class VM:
    """One workspace VM made by the kvm provider, with helpers to reach into it."""

    provider: LibvirtProvider
    desired: base.DesiredWorkspace
    spec: dict[str, Any]
    key: Path
    known_hosts: Path
    password: str = dataclasses.field(repr=False)
    generation: int = 1
    observed: base.Observed | None = None

    @property
    def ref(self) -> base.WorkspaceRef:
        return self.desired.ref

    @property
    def user(self) -> str:
        return str(self.spec["owner"]).lower()

    def files(self) -> dict[str, bytes]:
        config = agent.workspace_config(
            namespace=self.ref.namespace,
            name=self.ref.name,
            uid=self.ref.uid,
            generation=self.generation,
            spec=self.spec,
        )
        return agent.config_files(config, code_server_password=self.password)

    def ensure(self, **changes: Any) -> base.Observed:
        self.desired = dataclasses.replace(self.desired, config_files=self.files(), **changes)
        self.observed = run(self.provider.ensure(self.desired))
        return self.observed

    def observe(self) -> base.Observed:
        return run(self.provider.observe(self.ref))

    def report(self) -> dict[str, Any] | None:
        return run(self.provider.read_report(self.ref))

    def console(self) -> str:
        path = self.provider.layout.console_log(self.ref.uid)
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return "(no console log)"

    def wait_conditions(
        self, wanted: dict[str, str], *, timeout: float = BOOT_TIMEOUT
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        report: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            report = self.report()
            if report and report.get("generation") == self.generation:
                status = {c["type"]: c["status"] for c in report.get("conditions") or []}
                if all(status.get(k) == v for k, v in wanted.items()):
                    return report
            time.sleep(0.5)
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting for {wanted}; last report:\n"
            f"{json.dumps(report, indent=2)}\nconsole:\n{self.console()}"
        )

    def host_port(self, name: str) -> int:
        assert self.observed is not None
        port = self.observed.host_port(name)
        assert port, f"no published port {name}"
        return port

    def ssh(
        self, command: str, *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            "ssh", "-F", "/dev/null", "-i", str(self.key), "-p", str(self.host_port("ssh")),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR",
            f"{self.user}@127.0.0.1", "--", command,
        ]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"ssh {command!r}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result


@dataclasses.dataclass
class VMFactory:
    provider: LibvirtProvider
    image: str
    ssh_key: Path
    tmp: Path
    made: list[VM] = dataclasses.field(default_factory=list)

    def make(self, *, organization: str | None = None, name: str = "vm", **fields: Any) -> VM:
        org = organization or f"t{uuid.uuid4().hex[:8]}"
        ref = base.WorkspaceRef(namespace=org, name=name, uid=str(uuid.uuid4()), organization=org)
        spec = {
            "owner": "alice",
            "shell": "zsh",
            "ssh": {"authorizedKeys": [self.ssh_key.with_suffix(".pub").read_text().strip()]},
        }
        vm = VM(
            provider=self.provider,
            desired=base.DesiredWorkspace(ref=ref, image=self.image, **fields),
            spec=spec,
            key=self.ssh_key,
            known_hosts=self.tmp / f"known_hosts-{ref.uid}",
            password=secrets.token_urlsafe(18),
        )
        self.made.append(vm)
        return vm

    def cleanup(self) -> None:
        for vm in self.made:
            with contextlib.suppress(Exception):
                run(self.provider.delete(vm.ref))


@pytest.fixture(scope="module")
def kvm_provider(libvirt_ready: None, kvm_dir: Path) -> Iterator[LibvirtProvider]:
    provider = LibvirtProvider(data_dir=kvm_dir, start_daemon=False)
    run(provider.open())
    yield provider
    run(provider.close())


@pytest.fixture(scope="module")
def vms(
    kvm_provider: LibvirtProvider,
    vm_disk: Path,
    workspace_image: str,
    ssh_key: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[VMFactory]:
    factory = VMFactory(kvm_provider, workspace_image, ssh_key, tmp_path_factory.mktemp("vms"))
    yield factory
    factory.cleanup()


Waiter = Callable[..., dict[str, Any]]
