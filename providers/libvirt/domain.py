"""The libvirt domain XML of a workspace VM, and what WWS reads back from it.

A workspace VM (``wws-<uid>``, persistent, so it exists while stopped):

- boots the cached kernel and initramfs directly (:mod:`bootfiles`), domain type ``kvm``
  or ``qemu`` (TCG) as :mod:`acceleration` decided for this host;
- ``vda`` the root overlay, ``vdb`` the home (:mod:`disks`);
- two virtiofs shares, ``wws-config`` and ``wws-status``: the host folders of the agent's
  contract (docs/workspace-agent.md), mounted by the guest at ``/run/wws/config``
  (read-only) and ``/run/wws/status``; no network path between guest and controller;
- NIC 1 on the organization's network (:mod:`network`);
- NIC 2 a QEMU user-mode network with ``restrict=on`` (nothing leaves through it) whose
  only use is ``hostfwd``: each published port on ``127.0.0.1:<host port>``. libvirt 9
  forwards ports only with the passt backend, so this NIC is given on QEMU's command line
  (``<qemu:commandline>``; libvirt marks such domains "tainted", which is expected);
- the serial console in ``workspaces/<uid>/console.log`` (the first place to look when a
  VM does not come up), a virtio RNG (fast SSH host keys), a pvpanic device (a guest
  panic shows as a crash, not a hang), no graphics;
- QEMU runs as root (a static DAC label): the disks and shares live in WWS's data dir and
  virtiofs must keep the agent's files' owners and modes.

WWS's element in ``<metadata>`` holds the Workspace's namespace/name/uid/organization,
the config hash, the image and its digest, and the published ports: everything
:meth:`observe` reports, so nothing is kept in memory.
"""

from __future__ import annotations

import base64
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from providers import base
from providers.libvirt import naming

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
#: The kernel command line's limit on x86 is 2048 bytes; the environment must fit well within.
MAX_ENV_BYTES = 1024
FWD_PCI_SLOT = "0x1e"
DEFAULT_MEMORY_BYTES = 2 * 1024**3
DEFAULT_VCPUS = 2

ET.register_namespace("qemu", QEMU_NS)
ET.register_namespace(naming.METADATA_PREFIX, naming.METADATA_NS)


@dataclass(frozen=True)
class Meta:
    """WWS's metadata of a domain."""

    namespace: str = ""
    name: str = ""
    uid: str = ""
    organization: str = ""
    config_hash: str = ""
    image: str = ""
    image_digest: str = ""
    ports: tuple[base.PublishedPort, ...] = ()
    acceleration: str = ""

    def element(self) -> ET.Element:
        root = ET.Element(f"{{{naming.METADATA_NS}}}workspace")
        for key in (
            "namespace",
            "name",
            "uid",
            "organization",
            "config_hash",
            "image",
            "image_digest",
            "acceleration",
        ):
            ET.SubElement(root, key.replace("_", "-")).text = getattr(self, key)
        ports = ET.SubElement(root, "ports")
        for port in self.ports:
            ET.SubElement(
                ports,
                "port",
                name=port.name,
                guest=str(port.container_port),
                protocol=port.protocol,
                hostIP=port.host_ip,
                hostPort=str(port.host_port),
            )
        return root

    @classmethod
    def parse(cls, element: ET.Element | None) -> Meta:
        if element is None:
            return cls()

        def text(key: str) -> str:
            found = element.find(f"{{{naming.METADATA_NS}}}{key}")
            if found is None:
                found = element.find(key)
            return (found.text or "") if found is not None else ""

        ports_el = element.find(f"{{{naming.METADATA_NS}}}ports")
        if ports_el is None:
            ports_el = element.find("ports")
        ports = []
        for item in list(ports_el) if ports_el is not None else []:
            ports.append(
                base.PublishedPort(
                    name=item.get("name", ""),
                    container_port=int(item.get("guest") or 0),
                    host_ip=item.get("hostIP", ""),
                    host_port=int(item.get("hostPort") or 0),
                    protocol=item.get("protocol") or "tcp",
                )
            )
        return cls(
            namespace=text("namespace"),
            name=text("name"),
            uid=text("uid"),
            organization=text("organization"),
            config_hash=text("config-hash"),
            image=text("image"),
            image_digest=text("image-digest"),
            ports=tuple(ports),
            acceleration=text("acceleration"),
        )


def meta_of_xml(xml: str) -> Meta:
    root = ET.fromstring(xml)
    metadata = root.find("metadata")
    element = None
    if metadata is not None:
        element = metadata.find(f"{{{naming.METADATA_NS}}}workspace")
    return Meta.parse(element)


@dataclass(frozen=True)
class DomainSpec:
    """Everything a domain's XML is made of."""

    ref: base.WorkspaceRef
    meta: Meta
    domain_type: str  # "kvm" | "qemu"
    kernel: Path
    initrd: Path
    root_disk: Path
    home_disk: Path
    config_dir: Path
    status_dir: Path
    console_log: Path
    network: str
    vcpus: int
    memory_bytes: int
    env: Mapping[str, str] = field(default_factory=dict)
    emulator: str = "/usr/bin/qemu-system-x86_64"
    uuid: str = ""  # an existing domain's, to redefine it


def vcpus_for(cpu: float, host_cpus: int) -> int:
    """Whole virtual CPUs for ``spec.resources.cpu`` (0: the default), at most the host's."""
    wanted = math.ceil(cpu) if cpu > 0 else DEFAULT_VCPUS
    return max(1, min(wanted, host_cpus))


def env_argument(env: Mapping[str, str]) -> str:
    data = base64.b64encode(json.dumps(dict(sorted(env.items())), separators=(",", ":")).encode())
    if len(data) > MAX_ENV_BYTES:
        raise base.ProviderError(
            f"the workspace's environment is too large for a VM ({len(data)} bytes encoded, "
            f"at most {MAX_ENV_BYTES})"
        )
    return data.decode()


def hostfwd_argument(ports: tuple[base.PublishedPort, ...]) -> str:
    rules = "".join(
        f",hostfwd={p.protocol}:{p.host_ip}:{p.host_port}-:{p.container_port}" for p in ports
    )
    return f"user,id=wwsfwd,restrict=on,net=10.0.2.0/24{rules}"


def domain_xml(spec: DomainSpec) -> str:
    uid = spec.ref.uid
    root = ET.Element("domain", type=spec.domain_type)
    ET.SubElement(root, "name").text = naming.domain_name(uid)
    if spec.uuid:
        ET.SubElement(root, "uuid").text = spec.uuid
    ET.SubElement(root, "title").text = f"WWS workspace {spec.ref.namespace}/{spec.ref.name}"
    metadata = ET.SubElement(root, "metadata")
    metadata.append(spec.meta.element())
    ET.SubElement(root, "memory", unit="b").text = str(spec.memory_bytes)
    ET.SubElement(root, "vcpu").text = str(spec.vcpus)
    backing = ET.SubElement(root, "memoryBacking")
    # NB: virtiofs needs the guest's memory shared with virtiofsd.
    ET.SubElement(backing, "source", type="memfd")
    ET.SubElement(backing, "access", mode="shared")
    os_el = ET.SubElement(root, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.SubElement(os_el, "kernel").text = str(spec.kernel)
    ET.SubElement(os_el, "initrd").text = str(spec.initrd)
    fwd_mac = naming.mac_address(uid, "fwd")
    org_mac = naming.mac_address(uid, "org")
    cmdline = [
        "console=ttyS0",
        "quiet",
        "loglevel=3",
        "panic=-1",
        # NB: on a busy host a TCG guest can miss the IO-APIC timer check and panic at boot
        "no_timer_check",
        "wws.mode=boot",
        f"wws.hostname={spec.ref.name}",
        f"wws.fwdmac={fwd_mac}",
        f"wws.orgmac={org_mac}",
        f"wws.env={env_argument(spec.env)}",
    ]
    ET.SubElement(os_el, "cmdline").text = " ".join(cmdline)
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    if spec.domain_type == "kvm":
        ET.SubElement(root, "cpu", mode="host-passthrough")
    else:  # TCG: every feature QEMU can emulate (Node.js wants SSE4.2 and more)
        ET.SubElement(root, "cpu", mode="maximum")
    ET.SubElement(root, "clock", offset="utc")
    ET.SubElement(root, "on_poweroff").text = "destroy"
    ET.SubElement(root, "on_reboot").text = "restart"
    ET.SubElement(root, "on_crash").text = "destroy"
    devices = ET.SubElement(root, "devices")
    ET.SubElement(devices, "emulator").text = spec.emulator
    for path, dev, kind in ((spec.root_disk, "vda", "qcow2"), (spec.home_disk, "vdb", "raw")):
        disk = ET.SubElement(devices, "disk", type="file", device="disk")
        ET.SubElement(disk, "driver", name="qemu", type=kind, discard="unmap")
        ET.SubElement(disk, "source", file=str(path))
        ET.SubElement(disk, "target", dev=dev, bus="virtio")
    for folder, tag in ((spec.config_dir, "wws-config"), (spec.status_dir, "wws-status")):
        share = ET.SubElement(devices, "filesystem", type="mount", accessmode="passthrough")
        ET.SubElement(share, "driver", type="virtiofs", queue="1024")
        binary = ET.SubElement(share, "binary", xattr="off")
        # NB: no caching in the guest: the agent must see a new config at once, and the
        # host the agent's report.
        ET.SubElement(binary, "cache", mode="none")
        ET.SubElement(share, "source", dir=str(folder))
        ET.SubElement(share, "target", dir=tag)
    nic = ET.SubElement(devices, "interface", type="network")
    ET.SubElement(nic, "source", network=spec.network)
    ET.SubElement(nic, "mac", address=org_mac)
    ET.SubElement(nic, "model", type="virtio")
    serial = ET.SubElement(devices, "serial", type="file")
    ET.SubElement(serial, "source", path=str(spec.console_log), append="off")
    ET.SubElement(serial, "target", port="0")
    rng = ET.SubElement(devices, "rng", model="virtio")
    ET.SubElement(rng, "backend", model="random").text = "/dev/urandom"
    ET.SubElement(devices, "panic", model="isa")
    ET.SubElement(devices, "memballoon", model="none")
    seclabel = ET.SubElement(root, "seclabel", type="static", model="dac", relabel="no")
    ET.SubElement(seclabel, "label").text = "+0:+0"
    qemu = ET.SubElement(root, f"{{{QEMU_NS}}}commandline")
    for value in (
        "-netdev",
        hostfwd_argument(spec.meta.ports),
        "-device",
        f"virtio-net-pci,netdev=wwsfwd,mac={fwd_mac},addr={FWD_PCI_SLOT}",
    ):
        ET.SubElement(qemu, f"{{{QEMU_NS}}}arg", value=value)
    return ET.tostring(root, encoding="unicode")
