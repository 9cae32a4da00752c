"""One libvirt network per organization, and the rule that keeps organizations apart.

``wws-org-<org>`` is a NAT network (its own bridge ``wwsbr<hash>``, a /24 of
:data:`POOL`, DHCP and DNS from libvirt's dnsmasq): the VMs of one organization reach each
other and the internet (Debian, PyPI, npm for language installs), like the containers on
Podman's ``wws-org-<org>``; its ports are isolated (``<port isolated='yes'/>``), so they
do not reach each other; what they may open on the host is :mod:`providers.hostfirewall`'s.

libvirt's own rules let a NAT network's guests open connections to any address the host
routes to, which includes other organizations' container networks; and Podman's rules
accept (and masquerade) whatever its containers send, so a container could open
connections into a VM network. So every packet entering the host passes the chain
:data:`CHAIN` of the ``raw`` table (before libvirt's and Podman's filter rules, which they
re-insert at will):

- to an organization's subnet: on only when it comes from that organization's bridge
  (its own VMs); from anywhere else (containers, other organizations' VMs) dropped;
- from an organization's bridge to any other private, shared or link-local range (other
  organizations' VMs and containers, the host's private addresses, metadata services):
  dropped.

The host itself still reaches the VMs (its packets do not pass PREROUTING), and the VMs
reach the host's public addresses and the internet, as a container does. VMs and
containers of the *same* organization are apart too (they are on different networks).
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from providers import base
from providers.libvirt import naming
from wws import logconfig

log = logconfig.get(__name__)

#: Where the organizations' subnets (/24 each) come from: apart from Podman's pools
#: (deploy/containers.conf: 10.89.0.0/16 ... 10.95.255.255) and libvirt's default network.
POOL = ipaddress.ip_network("10.123.0.0/16")
CHAIN = "WWS-VM-ISOLATION"
#: libvirt's namespace for options passed to the network's dnsmasq.
DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"
ET.register_namespace("dnsmasq", DNSMASQ_NS)
#: Destinations a workspace VM may not reach unless they are its organization's subnet.
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


def subnet_candidates(organization: str) -> Iterable[ipaddress.IPv4Network]:
    """The pool's /24s, starting at one picked from the organization's name (so two
    controllers racing for different organizations rarely try the same subnet)."""
    subnets = list(POOL.subnets(new_prefix=24))[1:]  # NB: not .0.0/24
    start = int(hashlib.sha256(organization.encode()).hexdigest(), 16) % len(subnets)
    for index in range(len(subnets)):
        net = subnets[(start + index) % len(subnets)]
        assert isinstance(net, ipaddress.IPv4Network)
        yield net


def network_xml(organization: str, subnet: ipaddress.IPv4Network) -> str:
    hosts = list(subnet.hosts())
    root = ET.Element("network")
    ET.SubElement(root, "name").text = naming.network_name(organization)
    ET.SubElement(root, "bridge", name=naming.bridge_name(organization), stp="off")
    ET.SubElement(root, "forward", mode="nat")
    # Every guest's tap is an isolated bridge port (libvirt >= 6.1): the VMs of one
    # organization reach the gateway, never each other (as providers.bridgeports does on
    # Podman's networks).
    ET.SubElement(root, "port", isolated="yes")
    ip = ET.SubElement(root, "ip", address=str(hosts[0]), netmask=str(subnet.netmask))
    dhcp = ET.SubElement(ip, "dhcp")
    ET.SubElement(dhcp, "range", start=str(hosts[9]), end=str(hosts[-1]))
    # dnsmasq pings an address before it offers it (waiting up to 3 s for an answer that
    # never comes): the guest's boot waits for its lease, so every VM start paid it. Only
    # libvirt's DHCP hands out this network's addresses, so nothing else can hold one.
    options = ET.SubElement(root, f"{{{DNSMASQ_NS}}}options")
    ET.SubElement(options, f"{{{DNSMASQ_NS}}}option", value="no-ping")
    return ET.tostring(root, encoding="unicode")


def subnet_of(xml: str) -> ipaddress.IPv4Network | None:
    ip = ET.fromstring(xml).find("ip")
    if ip is None:
        return None
    return ipaddress.ip_network(
        f"{ip.get('address')}/{ip.get('netmask') or ip.get('prefix') or 24}", strict=False
    )  # type: ignore[return-value]


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["iptables", "-w", "10", "-t", "raw", *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise base.ProviderError(f"iptables: {error}") from error
    if check and result.returncode != 0:
        raise base.ProviderError(f"iptables {' '.join(args)}: {result.stderr.strip()}")
    return result


def apply_isolation(networks: dict[str, ipaddress.IPv4Network]) -> None:
    """Rewrite :data:`CHAIN` for ``networks`` (bridge → subnet) and make sure PREROUTING
    jumps to it. Idempotent; called whenever an organization's network is made or found."""
    if _iptables("-nL", CHAIN, check=False).returncode != 0:
        _iptables("-N", CHAIN)
    rules: list[list[str]] = []
    for bridge, subnet in sorted(networks.items()):
        # NB: in the order `iptables -S` prints a rule's options, so a current chain compares equal
        rules.append(["-d", str(subnet), "-i", bridge, "-j", "RETURN"])
        rules.append(["-d", str(subnet), "-j", "DROP"])
        rules += [["-d", dest, "-i", bridge, "-j", "DROP"] for dest in PRIVATE]
    current = _iptables("-S", CHAIN).stdout.splitlines()
    wanted = [f"-A {CHAIN} " + " ".join(_canonical(rule)) for rule in rules]
    if [line for line in current if line.startswith("-A")] != wanted:
        _iptables("-F", CHAIN)
        for rule in rules:
            _iptables("-A", CHAIN, *rule)
        log.info("VM isolation rules written", networks=len(networks))
    if _iptables("-C", "PREROUTING", "-j", CHAIN, check=False).returncode != 0:
        _iptables("-I", "PREROUTING", "-j", CHAIN)
    # NB: the jump of an earlier version, for VM bridges only
    while _iptables("-D", "PREROUTING", "-i", "wwsbr+", "-j", CHAIN, check=False).returncode == 0:
        pass


def _canonical(rule: list[str]) -> list[str]:
    """A rule as ``iptables -S`` prints it (addresses with their prefix length)."""
    out = []
    for index, word in enumerate(rule):
        if index and rule[index - 1] == "-d":
            out.append(str(ipaddress.ip_network(word)))
        else:
            out.append(word)
    return out
