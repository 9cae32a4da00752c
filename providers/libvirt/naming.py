"""Names of the libvirt objects and files of a workspace, and where they live on the host.

As with Podman, every object is named from the Workspace UID (a rename loses nothing) and
carries its Workspace's namespace/name/uid (in the domain's ``<metadata>``), so the
provider finds its objects again after a crash and spots orphans.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

#: The XML namespace of WWS's element in a domain's ``<metadata>``.
METADATA_NS = "https://wws.dev/libvirt/1"
METADATA_PREFIX = "wws"
DOMAIN_PREFIX = "wws-"
NETWORK_PREFIX = "wws-org-"


def domain_name(uid: str) -> str:
    return f"{DOMAIN_PREFIX}{uid}"


def uid_of_domain(name: str) -> str:
    return name[len(DOMAIN_PREFIX) :] if name.startswith(DOMAIN_PREFIX) else ""


def network_name(organization: str) -> str:
    return f"{NETWORK_PREFIX}{organization}"


def bridge_name(organization: str) -> str:
    """A Linux interface name (at most 15 characters) unique to the organization."""
    return "wwsbr" + hashlib.sha256(organization.encode()).hexdigest()[:10]


def mac_address(uid: str, nic: str) -> str:
    """A stable MAC address (QEMU's 52:54:00 prefix) for one NIC of a workspace."""
    digest = hashlib.sha256(f"{uid}/{nic}".encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


@dataclass(frozen=True)
class Layout:
    """Where the provider keeps its files under its data dir (``<data-dir>/kvm``)."""

    root: Path

    @property
    def cache(self) -> Path:
        """Kernel packages, busybox, kernels and initramfs images (per kernel version)."""
        return self.root / "cache"

    @property
    def images(self) -> Path:
        """Base disks, one per image digest."""
        return self.root / "images"

    @property
    def homes(self) -> Path:
        return self.root / "homes"

    @property
    def workspaces(self) -> Path:
        return self.root / "workspaces"

    def base_disk(self, digest: str) -> Path:
        return self.images / f"{digest}.qcow2"

    def workspace_dir(self, uid: str) -> Path:
        return self.workspaces / uid

    def root_disk(self, uid: str) -> Path:
        return self.workspace_dir(uid) / "root.qcow2"

    def config_dir(self, uid: str) -> Path:
        return self.workspace_dir(uid) / "config"

    def status_dir(self, uid: str) -> Path:
        return self.workspace_dir(uid) / "status"

    def console_log(self, uid: str) -> Path:
        return self.workspace_dir(uid) / "console.log"

    def home_disk(self, uid: str) -> Path:
        """The persistent home: a sparse raw ext4 image, ``wws-home-<uid>.img``."""
        return self.homes / f"wws-home-{uid}.img"
