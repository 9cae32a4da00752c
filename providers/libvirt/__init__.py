"""The ``kvm`` provider: workspaces as libvirt/QEMU virtual machines."""

from providers.libvirt.provider import LibvirtProvider

__all__ = ["LibvirtProvider"]
