#!/usr/bin/env bash
# Installs the Debian packages WWS drives, only those that are missing, so `make up` and
# `make test` work on a fresh Debian 12 machine. Safe to run again.
set -euo pipefail
wanted=(podman runc uidmap slirp4netns fuse-overlayfs debootstrap sqlite3 openssh-client git)
# Network isolation of workspaces: nft (the host firewall table `inet wws`,
# providers/hostfirewall.py); ip (iproute2) for the isolation tests' network namespace.
wanted+=(nftables iproute2)
# The kvm provider: libvirt + QEMU (software emulation works without /dev/kvm), qemu-img,
# mkfs.ext4 for the VM disks, dnsmasq for the organizations' networks, iptables for their
# isolation; libvirt-python (PyPI) compiles against libvirt-dev.
wanted+=(libvirt-daemon-system qemu-system-x86 qemu-utils e2fsprogs dnsmasq-base iptables)
wanted+=(libvirt-dev pkg-config gcc python3-dev)
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# `wws image build` fetches code-server's Node.js with `npm pack`: any npm will do.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "host-setup: missing Debian packages: ${missing[*]} (run as root or install them)" >&2
        exit 1
    fi
    echo "host-setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# udev's rule for /dev/kvm (group kvm, 0660), for hosts without udev (containers, CI): with
# /dev/kvm root-only, libvirt finds its cached QEMU capabilities stale on every call and
# probes QEMU again, which takes a minute where nested KVM hangs.
if [[ -c /dev/kvm && $(id -u) -eq 0 ]] && getent group kvm >/dev/null; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi
# Hosts without systemd: libvirt puts every VM into the cpu cgroup /machine, which then
# weighs as much as a single process of the host: on a busy host the VMs starve (boots
# three times slower than the same QEMU outside it, measured). Leave the cpu controller
# out there, so QEMU's threads compete like any other process (libvirtd reads this at start).
qemu_conf=/etc/libvirt/qemu.conf
if [[ ! -d /run/systemd/system && -w $qemu_conf ]] && ! grep -q '^cgroup_controllers' "$qemu_conf"; then
    printf '%s\n' '# wws (deploy/host-setup.sh): no systemd here, so no cpu cgroup for VMs' \
        'cgroup_controllers = [ "cpuset", "memory", "blkio", "devices", "freezer" ]' >>"$qemu_conf"
fi
