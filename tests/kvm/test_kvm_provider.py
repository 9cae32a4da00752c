"""The kvm provider without booting a workspace: the VM layer, the domain XML, the
acceleration decision, failures with a way out, and libvirtd going away and back.
(The VM boots are in test_vm_slow.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import socket
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from providers import base
from providers.libvirt import (
    LibvirtProvider,
    acceleration,
    bootfiles,
    daemon,
    domain,
    naming,
    network,
)
from tests.kvm.conftest import run

pytestmark = pytest.mark.kvm


def _ref() -> base.WorkspaceRef:
    org = f"t{uuid.uuid4().hex[:8]}"
    return base.WorkspaceRef(namespace=org, name="ws", uid=str(uuid.uuid4()), organization=org)


def test_initramfs_holds_busybox_the_modules_in_order_and_the_guest_init(kvm_dir: Path) -> None:
    boot = bootfiles.ensure_boot_files(naming.Layout(kvm_dir / "kvm").cache)
    data = gzip.decompress(boot.initrd.read_bytes())
    names = []
    offset = 0
    while True:  # walk the newc archive
        assert data[offset : offset + 6] == b"070701"
        namesize = int(data[offset + 94 : offset + 102], 16)
        filesize = int(data[offset + 54 : offset + 62], 16)
        name = data[offset + 110 : offset + 110 + namesize - 1].decode()
        if name == "TRAILER!!!":
            break
        names.append(name)
        offset += 110 + namesize
        offset += -offset % 4
        if name == "etc/wws-modules":
            order = data[offset : offset + filesize].decode().split()
        offset += filesize + (-filesize % 4)
    assert {"init", "bin/busybox", "vm_init.py", "dev/console"} <= set(names)
    # dependencies load first
    assert order.index("virtio") < order.index("virtio_pci") < order.index("virtio_blk")
    assert order.index("fuse") < order.index("virtiofs")
    assert boot.kernel.is_file() and boot.release in boot.kernel.name


def test_domain_xml_names_disks_shares_ports_and_metadata(tmp_path: Path) -> None:
    ref = _ref()
    ports = (base.PublishedPort("ssh", 22, "127.0.0.1", 42022),)
    meta = domain.Meta(
        namespace=ref.namespace, name=ref.name, uid=ref.uid, organization=ref.organization,
        config_hash="abc", image="img", image_digest="d1", ports=ports, acceleration="qemu",
    )  # fmt: skip
    layout = naming.Layout(tmp_path)
    xml = domain.domain_xml(
        domain.DomainSpec(
            ref=ref, meta=meta, domain_type="qemu", kernel=tmp_path / "k", initrd=tmp_path / "i",
            root_disk=layout.root_disk(ref.uid), home_disk=layout.home_disk(ref.uid),
            config_dir=layout.config_dir(ref.uid), status_dir=layout.status_dir(ref.uid),
            console_log=layout.console_log(ref.uid), network="wws-org-x", vcpus=3,
            memory_bytes=3 * 1024**3, env={"A": "b"},
        )
    )  # fmt: skip
    root = ET.fromstring(xml)
    assert root.get("type") == "qemu"
    assert root.findtext("name") == f"wws-{ref.uid}"
    assert root.findtext("vcpu") == "3"
    assert [t.get("dir") for t in root.iter("target") if t.get("dir")] == [
        "wws-config",
        "wws-status",
    ]
    assert "hostfwd=tcp:127.0.0.1:42022-:22" in xml
    assert domain.meta_of_xml(xml) == meta
    assert domain.vcpus_for(0.5, 2) == 1 and domain.vcpus_for(8, 2) == 2


def test_organization_network_isolates_ports_and_offers_leases_at_once() -> None:
    root = ET.fromstring(network.network_xml("acme", ipaddress.IPv4Network("10.123.7.0/24")))
    assert root.find("port").get("isolated") == "yes"  # type: ignore[union-attr]
    assert root.find("bridge").get("stp") == "off"  # type: ignore[union-attr]
    ns = {"d": network.DNSMASQ_NS}
    # no ping before an offer: every VM's boot waits for its lease
    assert [o.get("value") for o in root.findall("d:options/d:option", ns)] == ["no-ping"]


def test_environment_too_large_for_the_kernel_command_line_is_refused() -> None:
    with pytest.raises(base.ProviderError, match="too large"):
        domain.env_argument({"X": "y" * 2000})


def test_acceleration_is_decided_once_per_host_and_remembered(
    kvm_dir: Path, tmp_path: Path
) -> None:
    boot = bootfiles.ensure_boot_files(naming.Layout(kvm_dir / "kvm").cache)
    state = tmp_path / "acceleration.json"
    first = acceleration.decide(state, boot)
    assert first.domain_type in ("kvm", "qemu") and first.reason
    assert first.probe_seconds <= acceleration.PROBE_TIMEOUT + 5
    started = time.monotonic()
    again = acceleration.decide(state, boot)
    assert again == first and time.monotonic() - started < 1  # remembered, not probed
    assert acceleration.decide(state, boot, forced="qemu").domain_type == "qemu"


def test_missing_image_says_how_to_fix_it(libvirt_ready: None, tmp_path: Path) -> None:
    provider = LibvirtProvider(data_dir=tmp_path, start_daemon=False)
    run(provider.open())
    try:
        desired = base.DesiredWorkspace(ref=_ref(), image="localhost/wws/does-not-exist:1")
        with pytest.raises(base.ImageNotFound, match="wws image build"):
            run(provider.ensure(desired))
    finally:
        run(provider.delete(desired.ref))
        run(provider.close())


def test_missing_kernel_says_how_to_fix_it(
    libvirt_ready: None, workspace_image: str, tmp_path: Path
) -> None:
    provider = LibvirtProvider(
        data_dir=tmp_path, start_daemon=False, kernel_package="linux-image-0.0.0-wws-none-amd64"
    )
    run(provider.open())
    desired = base.DesiredWorkspace(ref=_ref(), image=workspace_image)
    try:
        with pytest.raises(bootfiles.KernelNotFound, match="apt-get") as caught:
            run(provider.ensure(desired))
        assert caught.value.reason == "KernelNotFound"
    finally:
        run(provider.delete(desired.ref))
        run(provider.close())


async def test_subscribe_reports_domain_events_and_agent_reports(
    libvirt_ready: None, tmp_path: Path
) -> None:
    provider = LibvirtProvider(data_dir=tmp_path, start_daemon=False)
    await provider.open()
    uid = str(uuid.uuid4())
    changes: asyncio.Queue[base.Change] = asyncio.Queue()

    async def consume() -> None:
        async for change in provider.subscribe():
            await changes.put(change)

    consumer = asyncio.create_task(consume())
    try:
        first = await asyncio.wait_for(changes.get(), 30)
        assert first.kind is base.ChangeKind.CONNECTED
        # a domain of that name appears and goes (no need to boot it)
        xml = (
            f"<domain type='qemu'><name>{naming.domain_name(uid)}</name><memory>65536</memory>"
            "<os><type arch='x86_64'>hvm</type></os></domain>"
        )
        conn = daemon.connect(daemon.DEFAULT_URI)
        conn.defineXML(xml).undefine()
        conn.close()
        seen = [await asyncio.wait_for(changes.get(), 30) for _ in range(2)]
        assert [(c.kind, c.uid, c.action) for c in seen] == [
            (base.ChangeKind.WORKSPACE, uid, "defined"),
            (base.ChangeKind.WORKSPACE, uid, "undefined"),
        ]
        status = provider.folders.status_dir(uid)
        status.mkdir(parents=True)
        change = None
        for attempt in range(10):  # NB: the file watcher may still be starting on a busy host
            (status / base.AGENT_REPORT_FILE).write_text(f'{{"n": {attempt}}}')
            try:
                change = await asyncio.wait_for(changes.get(), 3)
                break
            except TimeoutError:
                continue
        assert change is not None and (change.kind, change.uid) == (base.ChangeKind.REPORT, uid)
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await provider.close()


def _libvirtd_pid() -> int | None:
    found = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True)
    return int(found.stdout.split()[0]) if found.returncode == 0 else None


class SocketRelay:
    """libvirtd's socket as the provider sees it: a relay the test can take away and bring
    back (stopping the shared libvirtd itself would disturb every other VM on the host)."""

    def __init__(self, path: Path, target: str = "/run/libvirt/libvirt-sock") -> None:
        self.path = path
        self.target = target
        self.server: socket.socket | None = None
        self.conns: list[socket.socket] = []

    def start(self) -> None:
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(self.path))
        self.server.listen()
        threading.Thread(target=self._accept, args=(self.server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.conns.clear()
        self.path.unlink(missing_ok=True)


def test_libvirtd_gone_is_provider_unavailable_then_recovers(
    libvirt_ready: None, tmp_path: Path
) -> None:
    relay = SocketRelay(tmp_path / "libvirt.sock")
    relay.start()
    uri = f"qemu+unix:///system?socket={relay.path}"
    provider = LibvirtProvider(data_dir=tmp_path, uri=uri, start_daemon=False)
    run(provider.open())
    ref = _ref()
    try:
        assert run(provider.observe(ref)).state is base.State.ABSENT
        relay.stop()  # libvirtd goes away (as far as the provider can tell)
        with pytest.raises(base.ProviderUnavailable, match="libvirt"):
            run(provider.observe(ref))
        with pytest.raises(base.ProviderUnavailable):
            run(provider.list_managed())
        relay.start()  # ... and comes back
        assert run(provider.observe(ref)).state is base.State.ABSENT  # the same provider
    finally:
        relay.stop()
        run(provider.close())


def test_open_connects_or_starts_libvirtd(libvirt_ready: None, tmp_path: Path) -> None:
    """open() starts libvirtd (and virtlogd) when none answers; here one usually does."""
    provider = LibvirtProvider(data_dir=tmp_path)
    run(provider.open())
    assert _libvirtd_pid() is not None
    assert run(provider.list_managed()) is not None
    run(provider.close())


def test_a_home_left_by_a_crash_is_an_orphan_of_its_namespace_only(
    libvirt_ready: None, workspace_image: str, tmp_path: Path
) -> None:
    provider = LibvirtProvider(data_dir=tmp_path, start_daemon=False)
    run(provider.open())
    ref = _ref()
    try:
        # not running: only the home is made (and the agent's folder)
        desired = base.DesiredWorkspace(ref=ref, image=workspace_image, running=False)
        assert run(provider.ensure(desired)).home_exists
        disk = next(o for o in run(provider.inventory()) if o.uid == ref.uid)
        assert (disk.kind, disk.namespace, disk.workspace) == ("disk", ref.namespace, ref.name)
        assert run(provider.remove_orphans([], namespaces=["elsewhere"])) == []
        removed = run(provider.remove_orphans([], namespaces=[ref.namespace]))
        assert {o.uid for o in removed} == {ref.uid}
        assert not provider.layout.home_disk(ref.uid).exists()
        assert not provider.layout.workspace_dir(ref.uid).exists()
    finally:
        run(provider.delete(ref))
        run(provider.close())
