"""The host's side of workspace network isolation: what a workspace may open on the host.

A workspace's packets to the host itself (its network's gateway address, or any other
address of the host) arrive on its network's bridge. The nftables table ``inet wws`` lets
through, from every WWS bridge (Podman's ``wwsp*`` and ``wwst*``, libvirt's ``wwsbr*``):
replies to connections the host opened (the web UI's proxy, SSH through published ports),
DNS (a network's own resolver), DHCP (libvirt's dnsmasq) and ICMPv6 (neighbour discovery);
everything else is rejected. So a workspace reaches the internet (forwarded, not for the
host) but not the store, the web UI, the controller's health and metrics port, the host's
SSH or the ports the other workspaces publish on the host.

The rules match the bridges by name prefix, so one static table serves every network:
nothing to add per organization or team, nothing to remove with one. Kernel state
outlives the controller; each provider's ``open`` rewrites the table (atomically, the same
text every time), so a restart, a reboot or a hand-made change is put right at the next
start. The table is WWS's own: nothing of Podman's or libvirt's rules is touched.
"""

from __future__ import annotations

import shutil
import subprocess

from providers import base
from wws import logconfig

log = logconfig.get(__name__)

TABLE = "wws"
#: Bridge name prefixes of WWS's networks (providers.podman.naming, providers.libvirt.naming).
BRIDGES = ("wwsp*", "wwst*", "wwsbr*")

RULESET = f"""
table inet {TABLE}
delete table inet {TABLE}
table inet {TABLE} {{
	chain input {{
		type filter hook input priority filter - 5; policy accept;
		iifname {{ {", ".join(f'"{b}"' for b in BRIDGES)} }} jump from_workspace
	}}
	chain from_workspace {{
		ct state established,related accept
		meta l4proto {{ tcp, udp }} th dport 53 accept
		udp dport 67 accept
		meta l4proto ipv6-icmp accept
		reject with icmpx admin-prohibited
	}}
}}
"""


def ensure() -> None:
    """Write the table (idempotent). Raises :class:`~providers.base.ProviderUnavailable`
    when ``nft`` is missing or refuses: without it workspaces would reach the host's
    services, so no workspace is started (deploy/host-setup.sh installs nftables)."""
    nft = shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if shutil.which(p)), None
    )
    if nft is None:
        raise base.ProviderUnavailable(
            "nft (nftables) is missing: workspaces would reach the host's services; "
            "install nftables (deploy/host-setup.sh)"
        )
    try:
        result = subprocess.run(
            [nft, "-f", "-"], input=RULESET, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise base.ProviderUnavailable(f"nft: {error}") from error
    if result.returncode != 0:
        raise base.ProviderUnavailable(f"nft: the host firewall table: {result.stderr.strip()}")
    log.info("host firewall for workspaces written", table=f"inet {TABLE}")
