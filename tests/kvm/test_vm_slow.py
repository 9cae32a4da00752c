"""The kvm provider's VMs, booted for real (QEMU; software emulation where KVM does not
work): the slowest tests of the suite, kept in this one module around ONE VM that is
stopped, started, re-created and repaired in turn (each boot costs tens of seconds).
"""

from __future__ import annotations

import subprocess
import time
import urllib.request

import pytest

from providers import base
from providers.libvirt import naming
from tests.kvm.conftest import VM, VMFactory, run
from tests.support.podman import podman
from tests.support.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.kvm]

READY = {"UserReady": "True", "SSHReady": "True", "EditorReady": "True"}
SSH = {"UserReady": "True", "SSHReady": "True"}
MARKER = "/home/alice/keep/marker.txt"


def virsh(*args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(f"virsh {args}: {result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def vm(vms: VMFactory) -> VM:
    machine = vms.make(name="slow", memory_bytes=2 * 1024**3, cpu=2)
    observed = machine.ensure()
    assert observed.state is base.State.RUNNING
    machine.wait_conditions(SSH)
    return machine


def test_first_boot_reports_like_a_container(vm: VM) -> None:
    observed = vm.observe()
    assert observed.state is base.State.RUNNING
    assert observed.accelerator in ("kvm", "qemu")
    assert observed.home_exists
    assert observed.started_at is not None
    assert {p.name for p in observed.ports} == {"code-server", "ssh"}
    assert all(p.host_ip == "127.0.0.1" for p in observed.ports)
    assert virsh("domstate", naming.domain_name(vm.ref.uid)).strip() == "running"


def test_ssh_login_as_the_owner_with_zsh(vm: VM) -> None:
    out = vm.ssh("echo $0; id -un; id -u; cat /proc/cmdline; nproc").stdout.split("\n")
    assert out[0].endswith("zsh")
    assert out[1:3] == ["alice", "1000"]
    assert "wws.mode=boot" in out[3]  # it is the VM, not a container
    assert out[4] == "2"
    vm.ssh(
        f"mkdir -p ~/keep && printf kept >{MARKER} && chmod 640 {MARKER} "
        "&& ln -sf marker.txt ~/keep/link"
    )


def test_sshd_offers_the_rsa_host_key_made_in_the_background(vm: VM) -> None:
    # sshd started with ed25519 and ecdsa; the RSA key follows, then a reload (SIGHUP)
    def offered() -> str:
        scan = subprocess.run(
            ["ssh-keyscan", "-t", "rsa", "-p", str(vm.host_port("ssh")), "127.0.0.1"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return scan.stdout

    eventually(lambda: "ssh-rsa" in offered(), "the RSA host key offered", timeout=180, interval=2)
    assert vm.ssh("echo still").stdout.strip() == "still"  # the ed25519 key unchanged


def test_code_server_answers(vm: VM) -> None:
    # NB: under software emulation on a busy host code-server can miss its own 10 s start-up
    # handshake; the agent restarts it with a backoff, keeping EditorReady Unknown
    # (Restarting) meanwhile: this waits on the condition, up to the boot timeout.
    vm.wait_conditions(READY)
    port = vm.host_port("code-server")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as response:
        assert response.status == 200


def test_stop_keeps_the_home_and_start_boots_it_again(vm: VM) -> None:
    started = time.monotonic()
    vm.desired = vm.desired.__class__(**{**vm.desired.__dict__, "running": False})
    observed = run(vm.provider.ensure(vm.desired))
    assert observed.state is base.State.STOPPED, observed
    assert time.monotonic() - started < vm.provider.stop_timeout + 10
    assert observed.home_exists
    # NB: a clean power-off, not the destroy after the deadline
    assert "power off" in vm.console()
    vm.ensure(running=True)
    vm.wait_conditions(SSH)
    assert vm.ssh(
        f"cat {MARKER}; echo; stat -c %a {MARKER}; readlink ~/keep/link"
    ).stdout.split() == [
        "kept",
        "640",
        "marker.txt",
    ]


def test_a_spec_change_re_creates_the_vm_with_the_home(vm: VM) -> None:
    before = vm.observe()
    ports = {p.name: p.host_port for p in before.ports}
    observed = vm.ensure(memory_bytes=3 * 1024**3)
    assert observed.config_hash != before.config_hash
    assert {p.name: p.host_port for p in observed.ports} == ports  # endpoints kept
    vm.wait_conditions(SSH)
    marker, _, total_kib, _ = vm.ssh(
        f"cat {MARKER}; echo; grep MemTotal /proc/meminfo"
    ).stdout.split()
    assert marker == "kept"
    assert int(total_kib) > 2.5 * 1024**2


def test_a_vm_destroyed_or_undefined_behind_wws_is_repaired(vm: VM) -> None:
    name = naming.domain_name(vm.ref.uid)
    virsh("destroy", name)
    assert vm.observe().state is base.State.STOPPED
    virsh("undefine", name)
    assert vm.observe().state is base.State.ABSENT
    assert vm.observe().home_exists
    observed = vm.ensure()
    assert observed.state is base.State.RUNNING
    vm.wait_conditions(SSH)
    assert vm.ssh(f"cat {MARKER}").stdout == "kept"


def test_organizations_are_isolated_between_vm_and_container(vm: VM, vms: VMFactory) -> None:
    """The VM (its organization) cannot open a connection to a container of another
    organization, nor the container to the VM; the VM's own network works."""
    other = f"t{vm.ref.uid[:8]}x"
    network = naming.network_name(other)  # Podman's name for the other org's network
    name = f"wws-isotest-{vm.ref.uid[:8]}"
    podman("network", "create", "--opt", "isolate=true", network, check=False)
    try:
        podman(
            "run", "-d", "--rm", "--name", name, "--network", network, "--entrypoint",
            "/usr/bin/python3", vms.image, "-m", "http.server", "8000",
        )  # fmt: skip
        container_ip = podman(
            "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name
        ).stdout.strip()
        assert container_ip
        vm_ip = vm.ssh("ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1").stdout.strip()
        assert vm_ip.startswith("10.123.")
        # The container serves (from the host), the VM reaches its own network's gateway ...
        with urllib.request.urlopen(f"http://{container_ip}:8000/", timeout=10) as response:
            assert response.status == 200
        gateway = vm.ssh("ip route | awk '/default/ {print $3}'").stdout.strip()
        dns = f"timeout 5 bash -c '</dev/tcp/{gateway}/53' && echo OPEN || echo CLOSED"
        assert vm.ssh(dns).stdout.strip() == "OPEN"
        # ... but not the other organization's container,
        probe = f"timeout 5 bash -c '</dev/tcp/{container_ip}/8000' && echo OPEN || echo CLOSED"
        assert vm.ssh(probe).stdout.strip() == "CLOSED"
        # nor from that container to the VM's SSH.
        back = podman(
            "exec", name, "python3", "-c",
            "import socket; s = socket.socket(); s.settimeout(5); "
            f"print(s.connect_ex(('{vm_ip}', 22)))",
            check=False,
        )  # fmt: skip
        assert back.stdout.strip() not in ("0", ""), back
    finally:
        podman("rm", "-f", name, check=False)
        podman("network", "rm", "-f", network, check=False)


def test_delete_removes_the_vm_and_its_disks(vm: VM) -> None:
    layout = vm.provider.layout
    run(vm.provider.delete(vm.ref))
    assert vm.observe().state is base.State.ABSENT
    assert not vm.observe().home_exists
    assert not layout.home_disk(vm.ref.uid).exists()
    assert not layout.workspace_dir(vm.ref.uid).exists()
    assert virsh("domstate", naming.domain_name(vm.ref.uid), check=False).strip() == ""
    # the organization's network went with its last VM
    assert naming.network_name(vm.ref.organization) not in virsh("net-list", "--all", "--name")
